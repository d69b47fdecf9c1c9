"""Calibration procedures and records (tare, known mass, incisal reference, EMG noise floor, scanner scale)."""
