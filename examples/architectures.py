"""Stock torchvision architectures for 10 classes, as ``--model`` factories (``neurosnn bench
--model examples.architectures:mobilenet_v2 --input-shape 3,32,32``; the same for ``convert``
with ``--weights``): every idiom in them converts as written (ReLU6, ``ceil_mode`` pooling,
concatenations, residual additions).

    mobilenet_v2   MobileNetV2 (width 0.5): depthwise convolutions, ReLU6, inverted residuals
    squeezenet1_1  SqueezeNet 1.1: ceil_mode max pooling, Fire modules' concatenations
    resnet18       ResNet-18 as torchvision writes it
    densenet       a DenseNet-BC of three blocks (growth 12): concatenations feeding every layer
"""

import torchvision


def mobilenet_v2():
    return torchvision.models.mobilenet_v2(num_classes=10, width_mult=0.5)


def squeezenet1_1():
    return torchvision.models.squeezenet1_1(num_classes=10)


def resnet18():
    return torchvision.models.resnet18(num_classes=10)


def densenet():
    return torchvision.models.DenseNet(
        growth_rate=12, block_config=(4, 4, 4), num_init_features=24, num_classes=10
    )
