"""Stock torchvision architectures convert as written and their SNNs give their ANN's answers
at large T after a short training: MobileNetV2 (ReLU6, depthwise convolutions, inverted
residuals), SqueezeNet 1.1 (ceil_mode max pooling of concatenations) and ResNet-18."""

import pytest
import torch

from neurosnn.conversion import convert
from neurosnn.io.data import synthetic
from neurosnn.simulation.run import simulate

torchvision = pytest.importorskip("torchvision")

MODELS = {
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2(num_classes=4, width_mult=0.25),
    "squeezenet1_1": lambda: torchvision.models.squeezenet1_1(num_classes=4),
    "resnet18": lambda: torchvision.models.resnet18(num_classes=4),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_a_stock_torchvision_model_converts_and_agrees_with_its_ann(name):
    data = synthetic(n_train=256, n_test=24, num_classes=4, in_channels=3, input_size=32, seed=0)
    torch.manual_seed(0)
    model = MODELS[name]()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    model.train()
    for x, y in data.train.batches(64):  # a short training: trained BatchNorm statistics
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    model.eval()
    x, y = next(iter(data.test.batches(24)))
    with torch.no_grad():
        ann = model(x).argmax(1)
    snn = convert(model, [b for b, _ in data.train.batches(128)], (3, 32, 32), percentile=99.99)
    run = simulate(snn, [(x, y)], 192, delay="none")
    assert (run.predictions == ann).float().mean() >= 22 / 24
    assert abs(run.accuracy[-1].item() - (ann == y).float().mean().item()) <= 2 / 24
