"""Reports and plots that read neurosnn HDF5 records (they never run simulations)."""
