"""Load pylsl only after `LSLAPICFG` points at a configuration file.

liblsl reads its configuration once, when the library loads. By default it multicasts discovery on every
interface; the shipped `lsl_api.cfg` keeps LSL on 127.0.0.1. A site that needs LSL across the exam room sets
`LSLAPICFG` to its own file before starting the service. Every module imports pylsl through here.
"""

from __future__ import annotations

import os
from pathlib import Path

SHIPPED_CONFIG = Path(__file__).with_name("lsl_api.cfg")

os.environ.setdefault("LSLAPICFG", str(SHIPPED_CONFIG))

import pylsl  # noqa: E402

__all__ = ["pylsl", "local_clock", "SHIPPED_CONFIG"]


def local_clock() -> float:
    """Seconds on the LSL clock (monotonic, shared by every LSL process of this machine)."""
    return float(pylsl.local_clock())
