"""Test-wide set-up: LSL stays on 127.0.0.1 (shipped lsl_api.cfg) before pylsl is ever imported."""

from __future__ import annotations

import os
from pathlib import Path

os.environ["LSLAPICFG"] = str(Path(__file__).resolve().parents[1] / "acquisition" / "lsl_api.cfg")
os.environ.setdefault("AMUSE_LOG_LEVEL", "WARNING")
