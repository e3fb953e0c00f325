"""neurosnn: convert, simulate, tune and analyse spiking neural networks on BindsNET.

    import neurosnn as ns

    snn = ns.convert(model, calibration_batches, input_shape=(1, 28, 28))
    result = ns.simulate(snn, test_batches, timesteps=64)
    ns.save_snn("mine.snn.h5", snn)

The package is grouped by stage: ``snn`` (the converted SNN as a value), ``conversion``,
``simulation``, ``search``, ``learn``, ``measures``, ``io``, ``jobs`` (the end-to-end
workflows) and ``config`` (their configurations). The names below are its public API; they
load their stage on first use, so ``import neurosnn`` alone is quick.
"""

from neurosnn import _moved
from neurosnn._lazy import exports

__version__ = "0.3.0"

_moved.install()

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "convert": "conversion.pipeline",
        "ann_graph": "conversion.pipeline",
        "select_output": "conversion.trace",
        "ConversionError": "conversion.trace",
        "ConvertedSNN": "snn.network",
        "SNNGraph": "snn.graph",
        "simulate": "simulation.run",
        "simulate_groups": "simulation.run",
        "SimResult": "simulation.run",
        "SNNModule": "simulation.module",
        "save_snn": "io.snnfile",
        "load_snn": "io.snnfile",
        "write_nir": "io.nirio",
        "read_nir": "io.nirio",
        "RunWriter": "io.record",
        "read_run": "io.record",
        "read_spikes": "io.record",
        "load_dataset": "io.data",
        "create_network": "networks.registry",
        "list_networks": "networks.registry",
        "register_network": "networks.registry",
        "UserError": "errors",
        "Recipe": "config.recipe",
    },
)
