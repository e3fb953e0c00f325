"""The files neurosnn writes and reads: run records and other HDF5 results
(``neurosnn.files.record``, the only module that imports h5py), saved SNNs
(``neurosnn.files.snnfile``), NIR export and import (``neurosnn.files.nirio``) and a
nirtorch run of a NIR file (``neurosnn.files.nirconsumer``)."""
