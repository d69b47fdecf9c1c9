"""Small original visits for the replay and compare tests, recorded through a real `SessionManager` in about a
second: two sources (one removed before the close), a scanner, steps with repetitions, a marker, an operator
action, a calibration taken during the visit, a gap with its `samples.missing` event, a link event naming no
stream, read stamps on one stream and not the other, and samples the session drains at a source's stop."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.chunk import Chunk
from acquisition.clock import utc_iso
from acquisition.config import AcqSettings
from acquisition.events import Event
from acquisition.lslenv import local_clock
from acquisition.replay.scans import ReplayedScan, replay_scan_encoder
from acquisition.stream import DeviceIdentity, StreamSpec
from calibration.records import CalibrationRecord
from sessions.manager import SessionManager
from sessions.subject import VisitIdentity

JAW_REFERENCE = CalibrationRecord(id="jaw-reference:S-1:2026-01-01T00:00:05Z", kind="jaw-reference",
                                  device_serial="S-1", performed_utc="2026-01-01T00:00:05Z", performed_by="tech1",
                                  expires_utc="2026-01-01T23:59:59Z", values={"icp_mm": [0.5, -1.25, 2.0]},
                                  passed=True, simulated=True)
EMG_HOLE = (200, 5)  # 5 samples never delivered after seq 199
TAIL = 23  # emg samples the source still holds when it is stopped (drained by the session after close)


def _spec(name: str, channels: int, dtype: str, rate: float, serial: str) -> StreamSpec:
    return StreamSpec(name=name, kind="other", channels=tuple(f"c{i}" for i in range(channels)),
                      units=("u",) * channels, dtype=dtype, nominal_rate=rate,  # type: ignore[arg-type]
                      scale=(0.5,) * channels, offset=(1.0,) * channels, raw_units="adc_code",
                      device=DeviceIdentity(model="scripted", serial=serial, firmware="1.2", simulated=True,
                                            transport="test:scripted"))


class ScriptedSource:
    """Streams paced on the real clock from `open()`, values a function of the sample number."""

    def __init__(self, name: str, streams: Mapping[str, tuple[int, str, float]], *, serial: str,
                 hole: tuple[str, int, int] | None = None, tail: int = 0, link_event_at: int | None = None) -> None:
        self._name = name
        self._specs = [_spec(s, c, d, r, serial) for s, (c, d, r) in streams.items()]
        self._serial = serial
        self._hole = hole
        self._tail = tail
        self._link_event_at = link_event_at
        self._k = {s.name: 0 for s in self._specs}
        self._t0 = 0.0
        self._events: list[Event] = []
        self._closed = False
        self._tail_given = False
        self.frames = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def streams(self) -> Sequence[StreamSpec]:
        return self._specs

    def open(self) -> None:
        self._t0 = local_clock()
        self._event("device.opened", t=self._t0, serial=self._serial, port="scripted")

    def _event(self, name: str, *, t: float, stream: str = "", **payload: Any) -> None:
        self._events.append(Event(t_lsl=t, utc=utc_iso(), kind="device", name=name, stream=stream, payload=payload))

    def _chunk(self, spec: StreamSpec, seq: np.ndarray) -> Chunk:
        t = self._t0 + seq / spec.nominal_rate
        data = (seq[:, None] * 7 + np.arange(spec.n_channels)[None, :]) % 1000
        t_read = t + 0.0004 if spec.dtype == "int16" else None
        return Chunk.build(spec.name, data.astype(spec.np_dtype), seq, t, t_read)

    def read(self, timeout: float) -> Sequence[Chunk]:
        if self._closed:
            if self._tail_given or not self._tail:
                return []
            self._tail_given = True
            spec = self._specs[0]
            k = self._k[spec.name]
            self._k[spec.name] += self._tail
            return [self._chunk(spec, np.arange(k, k + self._tail, dtype=np.int64))]
        time.sleep(min(timeout, 0.01))
        now = local_clock()
        out = []
        for spec in self._specs:
            s, k = spec.name, self._k[spec.name]
            due = int(math.floor((now - self._t0) * spec.nominal_rate)) + 1 - k - (self._tail if spec is
                                                                                    self._specs[0] else 0)
            if due <= 0:
                continue
            seq = np.arange(k, k + due, dtype=np.int64)
            self._k[s] = k + due
            if self._hole is not None and self._hole[0] == s:
                a, n = self._hole[1], self._hole[2]
                if k <= a < k + due:
                    self._event("samples.missing", t=self._t0 + (a - 1) / spec.nominal_rate, stream=s, lost=n,
                                first_missing=a)
                seq = seq[(seq < a) | (seq >= a + n)]
            at = self._link_event_at
            if spec is self._specs[0] and at is not None and k <= at < k + due:
                self._event("link.disconnected", t=self._t0 + at / spec.nominal_rate,
                            serial=self._serial, detail="scripted")
            if len(seq):
                self.frames += len(seq)
                out.append(self._chunk(spec, seq))
        return out

    def drain_events(self) -> Sequence[Event]:
        out, self._events = self._events, []
        return out

    def counters(self) -> Mapping[str, int]:
        return {"frames": self.frames, "gaps": 1 if self._hole else 0}

    def close(self) -> None:
        self._closed = True


class FakeScanner:
    """Delivers one mesh per `take()`, with its `scan.ingested` event."""

    emits_pseudonymous_names = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: list[ReplayedScan] = []
        self._events: list[Event] = []
        self.ingested = 0

    @property
    def name(self) -> str:
        return "scanner"

    def open(self) -> None:
        self._events.append(Event(t_lsl=local_clock(), utc=utc_iso(), kind="device", name="device.opened",
                                  stream="scanner", payload={"model": "fake scanner"}))

    def take(self, condition: str, rep: int) -> None:
        rng = np.random.default_rng(rep)
        t = local_clock()
        cap = ReplayedScan(scan_id=f"{condition}_{rep}",
                           arrays={"vertices": rng.normal(0, 30, (1500, 3)).astype(np.float32),
                                   "faces": rng.integers(0, 1500, (2000, 3)).astype(np.int32)},
                           attrs={"condition": condition, "repetition": rep, "t_lsl": t, "units": "mm",
                                  "landmarks": {"sto": [1, 2.5, 3]}, "warnings": []})
        with self._lock:
            self._ready.append(cap)
            self._events.append(Event(t_lsl=t, utc=utc_iso(), kind="scan", name="scan.ingested", stream="scanner",
                                      payload={"condition": condition, "repetition": rep}))

    def poll(self) -> Sequence[ReplayedScan]:
        with self._lock:
            out, self._ready = self._ready, []
            self.ingested += len(out)
        return out

    def drain_events(self) -> Sequence[Event]:
        with self._lock:
            out, self._events = self._events, []
        return out

    def counters(self) -> Mapping[str, int]:
        return {"captures_ingested": self.ingested}

    def close(self) -> None:
        pass


def settings_for(data_dir: Path, **kw: Any) -> AcqSettings:
    kw.setdefault("create_data_dir", True)
    return AcqSettings(data_dir=data_dir, compaction_interval_s=0.2, lsl_outlets=False, **kw)


def record_original(data_dir: Path, subject: str = "ABC-001", visit: str = "D0") -> Path:
    """Record and seal the small original visit; its path."""
    ident = VisitIdentity.checked(subject=subject, visit=visit, operator="tech1", site="SIM")
    main = ScriptedSource("scripted", {"emg": (4, "int16", 500.0), "jaw": (3, "float32", 50.0)}, serial="S-1",
                          hole=("emg", *EMG_HOLE), tail=TAIL, link_event_at=250)
    aux = ScriptedSource("aux", {"aux": (2, "int32", 100.0)}, serial="S-2")
    scanner = FakeScanner()
    cal = [{"id": "plate_tare", "kind": "tare", "device_serial": "S-1", "values": {"offset": [0, 1]},
            "performed_utc": "2026-01-01T00:00:00Z", "simulated": True}]
    session = SessionManager.open(settings_for(data_dir), ident, simulated=True, calibration=cal,
                                  scan_encoder=replay_scan_encoder)
    with session:
        session.start_step("preflight")
        session.add_source(main)
        session.add_scanner(scanner, poll_s=0.02)
        session.end_step()
        session.start_step("emg_rest", repetition=1, duration_s=0.3)
        time.sleep(0.3)
        session.marker("note.set", k=1)
        session.end_step()
        session.start_step("scan_rest", repetition=3, duration_s=0.25)
        session.record_calibration(JAW_REFERENCE)  # a calibration taken during the visit
        session.add_source(aux)
        scanner.take("rest", 1)
        time.sleep(0.25)
        deadline = time.monotonic() + 5
        while scanner.ingested < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        session.remove_source("aux")
        session.operator_action("comment.added", text="all fine")
        session.end_step()
        time.sleep(0.1)
        session.record_outcomes([("emg_rest", "rms", 1.25, "uV", "test-1")])
        sealed = session.close()
    return sealed.path
