"""The HDF5 visit file: schema v1, incremental writer, seal (verify, fsync, rename, read-only, manifest), verify."""
