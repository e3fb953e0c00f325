"""What the papers measure of a network: FGSM and adversarial noise sensitivity (``attacks``),
PCA layer significance (``significance``), energy (``energy``), time and memory."""

from neurosnn._lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "fgsm": "attacks",
        "fgsm_split": "attacks",
        "ans": "attacks",
        "noise_sensitivity": "attacks",
        "layer_significance": "significance",
        "Significance": "significance",
        "Energy": "energy",
        "energy_of": "energy",
        "unique_parameters": "energy",
        "E_MAC_PJ": "energy",
        "E_AC_PJ": "energy",
        "peak_of": "resources",
        "mean_seconds": "resources",
    },
)
