"""BackRes topologies of Panda, Aketi & Roy (2020) and the plain VGG7 of the same logical depth.

Table 3 of the paper is missing from the text copy; the text fixes the naming: VGG2x4 has two
unique convolutions, the second computed 4 times; VGG3x2-v1 has three, with the block
(Conv2, Conv3) computed twice; all reach the logical depth of VGG7 (7 layers counting the fully
connected ones). VGG3x2-v2 is read here as Conv2 twice, then Conv3 twice. Widths: 128 channels
(×``width``), as BackRes blocks keep their channel count.

| name | computation | logical depth | unique layers |
|---|---|---|---|
| vgg7 | C1 P C2 C3 C4 C5 P FC FC | 7 | 7 |
| vgg2x4 | C1 P (C2)×4 P FC FC | 7 | 4 |
| vgg3x2-v1 | C1 P (C2 C3)×2 P FC FC | 7 | 5 |
| vgg3x2-v2 | C1 P (C2)×2 (C3)×2 P FC FC | 7 | 5 |
"""

from __future__ import annotations

from neurosnn.networks.blocks import Repeat
from neurosnn.networks.registry import register_network
from neurosnn.networks.vgg import VGG, Cfg

BACKRES_CFGS: dict[str, tuple[Cfg, list[int]]] = {
    "vgg7": ([128, "M", 128, 128, 128, 128, "M"], [1024]),
    "vgg2x4": ([128, "M", Repeat(1, 4), "M"], [1024]),
    "vgg3x2-v1": ([128, "M", Repeat(2, 2), "M"], [1024]),
    "vgg3x2-v2": ([128, "M", Repeat(1, 2), Repeat(1, 2), "M"], [1024]),
}


def _factory(name: str):
    cfg, fc = BACKRES_CFGS[name]

    @register_network(name)
    def build(num_classes: int, in_channels: int, input_size: int, **options) -> VGG:
        return VGG(cfg, fc, num_classes, in_channels, input_size, **options)

    build.__doc__ = f"{name}: {cfg}, hidden FC {fc}."
    return build


for _name in BACKRES_CFGS:
    _factory(_name)
