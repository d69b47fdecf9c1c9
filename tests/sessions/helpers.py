"""Shared test helpers for session tests."""

from __future__ import annotations

from pathlib import Path

from acquisition.config import AcqSettings
from acquisition.stream import DeviceIdentity, StreamSpec
from drivers.generated.paced import PacedSource, RampGenerator
from sessions.manager import SessionManager
from sessions.subject import VisitIdentity


def ramp_spec(name: str = "ramp", channels: int = 3, rate: float = 1000.0) -> StreamSpec:
    return StreamSpec(
        name=name, kind="other", channels=tuple(f"c{i}" for i in range(channels)), units=("u",) * channels,
        dtype="int32", nominal_rate=rate, device=DeviceIdentity(model="ramp", serial=f"R-{name}", simulated=True),
    )


def ramp_source(name: str = "ramp", channels: int = 3, rate: float = 1000.0) -> PacedSource:
    return PacedSource(ramp_spec(name, channels, rate), RampGenerator(channels))


def open_session(data_dir: Path, subject: str = "ABC-001", visit: str = "D0", **kw: object) -> SessionManager:
    """A simulated visit in `data_dir`, created if missing (the manager refuses a missing one unless asked)."""
    kw.setdefault("create_data_dir", True)
    settings = AcqSettings(data_dir=data_dir, compaction_interval_s=0.2, lsl_outlets=False, **kw)  # type: ignore[arg-type]
    ident = VisitIdentity.checked(subject=subject, visit=visit, operator="tech1", site="SIM")
    return SessionManager.open(settings, ident, simulated=True)
