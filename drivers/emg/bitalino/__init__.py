"""BITalino (r)evolution over a serial line: codec, commands, driver, wire-level simulator.

Protocol facts follow PLUX's public APIs (BITalinoWorld/revolution-python-api `bitalino.py`, the C++ API
`bitalino.cpp`) and are listed with their sources in docs/devices.md."""
