"""neurosnn: convert, simulate, tune and analyse spiking neural networks on BindsNET."""

__version__ = "0.2.0"
