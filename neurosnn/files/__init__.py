"""The files neurosnn writes and reads: run records and other HDF5 results
(:mod:`~neurosnn.files.record`, the only module that imports h5py), saved SNNs
(:mod:`~neurosnn.files.snnfile`), NIR export and import (:mod:`~neurosnn.files.nirio`) and a
nirtorch run of a NIR file (:mod:`~neurosnn.files.nirconsumer`)."""
