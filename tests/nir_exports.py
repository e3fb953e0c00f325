"""Run in a simulator's environment (``make consumers``): a small network of that simulator's
own neurons exported with its own NIR exporter, written to a file.

    python tests/nir_exports.py sinabs|spikingjelly|rockpool OUT.nir
"""

import sys

import nir
import torch


def exported(name: str):
    torch.manual_seed(0)
    x = torch.rand(1, 4)
    if name == "sinabs":
        import sinabs
        import sinabs.layers as sl

        net = torch.nn.Sequential(
            torch.nn.Linear(4, 3),
            sl.IAFSqueeze(batch_size=1),
            torch.nn.Linear(3, 2),
            sl.IAFSqueeze(batch_size=1),
        )
        return sinabs.to_nir(net, x)
    if name == "rockpool":
        from rockpool.nn.combinators import Sequential
        from rockpool.nn.modules import LIFTorch, LinearTorch
        from rockpool.nn.modules.torch.nir import to_nir

        return to_nir(
            Sequential(LinearTorch((4, 3)), LIFTorch(3), LinearTorch((3, 2)), LIFTorch(2))
        )
    from spikingjelly.activation_based import layer, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    net = torch.nn.Sequential(
        layer.Linear(4, 3), neuron.IFNode(), layer.Linear(3, 2), neuron.LIFNode()
    )
    return export_to_nir(net, x)


if __name__ == "__main__":
    nir.write(sys.argv[2], exported(sys.argv[1]))
