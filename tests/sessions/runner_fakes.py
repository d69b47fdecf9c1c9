"""Fakes for the protocol runner's tests: instruments with known signals, a scanner, gates, an audit log, and a
small protocol whose steps last a fraction of a second."""

from __future__ import annotations

import math
import textwrap
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.chunk import Chunk
from acquisition.config import AcqSettings
from acquisition.events import Event
from acquisition.lslenv import local_clock
from acquisition.stream import DeviceIdentity, StreamSpec
from sessions.manager import SessionManager
from sessions.protocol import ProtocolFile, parse_protocol
from sessions.runner import open_visit
from sessions.subject import VisitIdentity

Signal = Callable[[np.ndarray], np.ndarray]  # sample numbers -> rows


def spec(name: str, kind: str, channels: Sequence[str], units: Sequence[str], dtype: str, rate: float, *,
         scale: Sequence[float] | None = None, raw_units: str = "") -> StreamSpec:
    return StreamSpec(name=name, kind=kind, channels=tuple(channels), units=tuple(units), dtype=dtype,  # type: ignore[arg-type]
                      nominal_rate=rate, scale=None if scale is None else tuple(scale), raw_units=raw_units,
                      device=DeviceIdentity(model=f"fake {kind}", serial=f"F-{name}-{uuid.uuid4().hex[:6]}",
                                            simulated=True))


def emg_spec(name: str = "emg_a", rate: float = 500.0) -> StreamSpec:
    return spec(name, "emg", ("TA_R", "TA_L", "MM_R", "MM_L"), ("uV",) * 4, "uint16", rate, scale=(3.19,) * 4,
                raw_units="adc_code")


def emg_live(seq: np.ndarray) -> np.ndarray:
    """Codes around mid-scale, a different sine per channel: present, never at the limits."""
    return (512 + 40 * np.sin(seq[:, None] * np.array([0.05, 0.07, 0.11, 0.13]))).astype(np.uint16)


def emg_flat_channel(seq: np.ndarray) -> np.ndarray:
    """MM_L's electrode is off: a constant code."""
    out = emg_live(seq)
    out[:, 3] = 500
    return out


def emg_saturating(seq: np.ndarray) -> np.ndarray:
    """TA_R clips at the top of the 10-bit range half of the time."""
    out = emg_live(seq)
    out[seq % 2 == 0, 0] = 1023
    return out


def jaw_spec(rate: float = 50.0) -> StreamSpec:
    return spec("jaw_incisal", "jaw", ("x_lat", "y_vert", "z_ap"), ("mm",) * 3, "float32", rate)


def jaw_opening(amplitude_mm: float) -> Signal:
    def f(seq: np.ndarray) -> np.ndarray:
        y = -amplitude_mm * (0.5 - 0.5 * np.cos(seq * 0.4))
        return np.stack([0.2 * np.sin(seq * 0.3), y, 0.1 * np.cos(seq * 0.2)], axis=1).astype(np.float32)
    return f


def plate_spec(rate: float = 100.0) -> StreamSpec:
    return spec("plate_raw", "plate", ("TR", "BR", "TL", "BL"), ("kg",) * 4, "int32", rate, scale=(0.01,) * 4,
                raw_units="10g")


class PlateLoad:
    """A plate whose total load (kg) the test sets: `kg = 0` is nobody on it."""

    def __init__(self, kg: float = 70.0) -> None:
        self.kg = kg

    def __call__(self, seq: np.ndarray) -> np.ndarray:
        per_cell = self.kg / 4 * 100 + 20 * np.sin(seq * 0.05)  # codes of 10 g
        return np.repeat(per_cell[:, None], 4, axis=1).astype(np.int32)


class PatternSource:
    """Regular streams paced from `open()`, each sample `signal(seq)`. `unplug()` stops delivery (samples keep
    being numbered: a hole on `replug()`) and reports `link.disconnected`, as a driver does."""

    def __init__(self, name: str, streams: Mapping[StreamSpec, Signal]) -> None:
        self._name = name
        self._specs = list(streams)
        self._signals = {s.name: f for s, f in streams.items()}
        self._k = {s.name: 0 for s in self._specs}
        self._t0 = 0.0
        self.plugged = True
        self.opened = self.closed = False
        self._events: list[Event] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def streams(self) -> Sequence[StreamSpec]:
        return self._specs

    def open(self) -> None:
        self._t0 = local_clock()
        self.opened = True

    def _event(self, name: str) -> None:
        from acquisition.clock import utc_iso

        self._events.append(Event(t_lsl=local_clock(), utc=utc_iso(), kind="device", name=name,
                                  stream=",".join(s.name for s in self._specs), payload={"source": self._name}))

    def unplug(self) -> None:
        self.plugged = False
        self._event("link.disconnected")

    def replug(self) -> None:
        self.plugged = True
        self._event("link.reconnected")

    def read(self, timeout: float) -> Sequence[Chunk]:
        time.sleep(min(timeout, 0.02))
        now = local_clock()
        out = []
        for s in self._specs:
            due = int(math.floor((now - self._t0) * s.nominal_rate)) + 1 - self._k[s.name]
            if due <= 0:
                continue
            seq = np.arange(self._k[s.name], self._k[s.name] + due, dtype=np.int64)
            self._k[s.name] += due
            if self.plugged:
                out.append(Chunk.build(s.name, self._signals[s.name](seq), seq, self._t0 + seq / s.nominal_rate))
        return out

    def drain_events(self) -> Sequence[Event]:
        out, self._events = self._events, []
        return out

    def counters(self) -> Mapping[str, int]:
        return dict(self._k)

    def close(self) -> None:
        self.closed = True


class FakeScanner:
    """A scanner whose captures the test takes (`take()`); encoded by `encode_fake_capture`."""

    emits_pseudonymous_names = True

    def __init__(self, name: str = "scanner") -> None:
        self._name = name
        self._pending: list[dict[str, Any]] = []
        self._n = 0

    @property
    def name(self) -> str:
        return self._name

    def open(self) -> None:
        """Nothing to open."""

    def take(self, condition: str) -> None:
        self._n += 1
        self._pending.append({"id": f"{condition}_{self._n}", "condition": condition, "t_lsl": local_clock()})

    def poll(self) -> Sequence[Any]:
        out, self._pending = self._pending, []
        return out

    def drain_events(self) -> Sequence[Event]:
        return []

    def counters(self) -> Mapping[str, int]:
        return {"captures_ingested": self._n}

    def close(self) -> None:
        """Nothing to close."""


def encode_fake_capture(cap: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    return cap["id"], {"vertices": np.zeros((3, 3))}, {"condition": cap["condition"], "t_lsl": cap["t_lsl"]}


class FakeReport:
    def __init__(self, failing: set[str]) -> None:
        self.failing = set(failing)
        self.overrides: dict[str, tuple[str, str]] = {}

    @property
    def blocking(self) -> list[Any]:
        return [type("Gate", (), {"name": g, "detail": f"{g} failed (fake)"})() for g in sorted(self.failing)]

    def summary(self) -> dict[str, str]:
        return {g: "fail" for g in self.failing} | {g: "overridden" for g in self.overrides}


class FakeGates:
    """Gates that fail the names in `failing` until overridden; `runs` counts the runs, `seen` their contexts."""

    def __init__(self, failing: Sequence[str] = (), not_overridable: Sequence[str] = ()) -> None:
        self.failing = set(failing)
        self.not_overridable = set(not_overridable)
        self.runs = 0
        self.seen: list[Any] = []

    def run(self, ctx: Any) -> FakeReport:
        self.runs += 1
        self.seen.append(ctx)
        return FakeReport(self.failing)

    def override(self, ctx: Any, report: FakeReport, gate: str, reason: str, operator: str) -> None:
        if gate in self.not_overridable:
            raise ValueError(f"the {gate} gate cannot be overridden")
        report.failing.discard(gate)
        report.overrides[gate] = (reason, operator)


class AuditLog:
    """The audit trail's `record`, kept in memory; `fail_on` makes that action's entry fail (a full disk)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.fail_on: set[str] = set()

    def __call__(self, action: str, *, operator: str, payload: Mapping[str, Any], t_lsl: float | None = None) -> None:
        if action in self.fail_on:
            raise OSError(28, "No space left on device")
        self.entries.append({"action": action, "operator": operator, "payload": dict(payload), "t_lsl": t_lsl})

    def actions(self) -> list[str]:
        return [e["action"] for e in self.entries]


TEST_PROTOCOL = textwrap.dedent("""\
    protocol_version = "0.9"
    name = "runner-test"

    [qc]
    settle_s = 0.6
    scan_settle_s = 1.5

    [qc.streams.emg_a]
    adc_limits = [0, 1023]
    raw_units = "adc_code"

    [[steps]]
    name = "questionnaires"
    instrument = "manual"
    title = "Questionnaires (eCRF)"

    [[steps]]
    name = "scan_rest"
    instrument = "scanner"
    title = "3D scan at rest"
    repetitions = 2

    [[steps]]
    name = "emg_rest"
    instrument = "emg_jaw"
    title = "Rest"
    duration_s = 0.4

    [[steps]]
    name = "jaw_max_opening"
    instrument = "emg_jaw"
    title = "Maximal opening"
    duration_s = 0.4

    [steps.qc]
    min_opening_mm = 10.0

    [[steps]]
    name = "stab_eyes_open"
    instrument = "stabilometry"
    title = "Stabilometry, eyes open"
    duration_s = 0.4
    visits = ["D0", "W12", "W24"]

    [steps.qc]
    min_load_kg = 20.0
    """)


def test_protocol() -> ProtocolFile:
    return parse_protocol(TEST_PROTOCOL.encode(), source="runner-test.toml")


test_protocol.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def settings_for(data_dir: Path, **kw: Any) -> AcqSettings:
    return AcqSettings(data_dir=data_dir, compaction_interval_s=0.2, lsl_outlets=False, create_data_dir=True, **kw)


def open_test_visit(data_dir: Path, *, visit: str = "D0", protocol: ProtocolFile | None = None,
                    **kw: Any) -> SessionManager:
    ident = VisitIdentity.checked(subject="RUN-001", visit=visit, operator="tech1", site="SIM")
    return open_visit(settings_for(data_dir), ident, simulated=True, protocol=protocol or test_protocol(),
                      scan_encoder=encode_fake_capture, **kw)


def rig(emg: Signal = emg_live, jaw_amplitude_mm: float = 15.0, plate: PlateLoad | None = None,
        with_plate: bool = True) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Sources per instrument, and the same by role for the test to act on."""
    emg_jaw = PatternSource("emg_jaw", {emg_spec(): emg, jaw_spec(): jaw_opening(jaw_amplitude_mm)})
    scanner = FakeScanner()
    parts: dict[str, Any] = {"emg_jaw": emg_jaw, "scanner": scanner}
    sources: dict[str, list[Any]] = {"emg_jaw": [emg_jaw], "scanner": [scanner]}
    if with_plate:
        load = plate or PlateLoad()
        stab = PatternSource("plate", {plate_spec(): load})
        sources["stabilometry"] = [stab]
        parts |= {"plate": stab, "load": load}
    return sources, parts
