"""Sources fed directly by signal generators, paced in real time, with no wire protocol in between.

Used where the point is the recording path, not a device (crash tests, the journal/HDF5 benchmarks). They mark
their streams `simulated=True`; the demo uses the wire-level simulators of each driver package instead.
"""
