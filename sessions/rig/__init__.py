"""The site's rig: its configuration file, the sources built from it, `rig check` and `rig simulate` (docs/rig.md).

`config` (the rig file's models, load), `ports` (stable paths, USB serial lookup), `build` (the sources of a rig:
`build_sources(cfg) -> RigSources`), `check` (`rig check`), `simulate` (`rig simulate`), `toml_out` (writing a
rig file). Nothing is imported here: the CLI's parser stays light.
"""
