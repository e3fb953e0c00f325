"""Running a converted SNN: ``simulate`` over a data set (the fast engine or bindsnet's
``Network.run``), the SNN as a torch module, encodings, delayed readout, SRP, curve metrics."""

from neurosnn._lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "simulate": "run",
        "simulate_groups": "run",
        "SimResult": "run",
        "GroupResult": "run",
        "SNNModule": "module",
        "Delay": "options",
        "DELAYS": "options",
        "BiasOnset": "options",
        "BIAS_ONSETS": "options",
        "Precision": "options",
        "PRECISIONS": "options",
        "Encoding": "options",
        "ENCODINGS": "options",
        "check_presim": "options",
        "encode": "encoding",
        "choose_readout_after": "delayed",
        "iso_accuracy_step": "curve",
        "latency_report": "curve",
        "frontier": "curve",
        "compare_latency": "curve",
        "iso_time_gain": "curve",
    },
)
