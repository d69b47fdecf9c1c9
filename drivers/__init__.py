"""Instrument drivers: one subpackage per instrument (transport, codec, driver, wire-level simulator),
plus `drivers.signals`, the signal generators with known ground truth that feed the simulators."""
