"""The drivers' reporter lives in `acquisition.reporter` (the LSL inlet, below the drivers, reports through it
too); re-exported here, where the drivers have always imported it from."""

from __future__ import annotations

from acquisition.reporter import Reporter

__all__ = ["Reporter"]
