"""Inlet source for a six-component force plate published on LSL by its vendor's app (Fx Fy Fz Mx My Mz).

Checks at open, with a clear error naming the channel: six channels labelled Fx Fy Fz Mx My Mz (any order, found
by label in the XDF `desc/channels` metadata), force units `N`, moment units `N.m` (also `Nm`, `N*m`, `N·m`),
float32/float64 samples. Anything else is refused.

Streams:
- `plate_raw`: the six components as received (units N and N.m, normalised spelling), raw LSL timestamps as
  `t_lsl` (no LSL post-processing: `processing_flags=0`), `t_read` = host time of the pull;
  `device_seq` = running count of received samples (LSL carries none; the count proves what was received).
- `cop`: [x_ml, y_ap] mm: COPx = -(My + h Fx)/Fz, COPy = (Mx - h Fy)/Fz with `h_mm` converted to metres;
  NaN while Fz/g is below the step-off threshold.

`inlet.time_correction()` is sampled every `clock_every_s` and stored as Events of kind "clock"
(name "lsl.time_correction", payload offset_s = remote->local offset) so the offsets can be applied later,
never destructively.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from acquisition.chunk import Chunk
from acquisition.clock import local_clock
from acquisition.events import Event
from acquisition.lsl.inlet import stream_serial
from acquisition.lslenv import pylsl
from acquisition.source import SourceError
from acquisition.stream import DeviceIdentity, StreamSpec
from drivers.stabilometry.config import LslPlateConfig
from drivers.stabilometry.cop import COP_CHANNELS, FORCE_CHANNELS, cop_from_forces
from drivers.common.reporter import Reporter
from drivers.stabilometry.stepoff import StepOffDetector

FORCE_UNITS = {"N": "N", "n": "N", "newton": "N", "newtons": "N"}
MOMENT_UNITS = {"N.m": "N.m", "Nm": "N.m", "N*m": "N.m", "N·m": "N.m", "N m": "N.m"}
_COUNTERS = ("frames", "stalls", "clock_failures", "stepped_off", "stepped_on", "out_of_order")


def check_channels(labels: Sequence[str], units: Sequence[str]) -> tuple[list[int], tuple[str, ...]]:
    """Column of each of Fx..Mz in the stream, and normalised units. SourceError naming the culprit otherwise."""
    if len(labels) != 6:
        raise SourceError(f"force plate stream has {len(labels)} channels, expected 6 (Fx Fy Fz Mx My Mz)")
    index = {lab.strip(): i for i, lab in enumerate(labels)}
    cols: list[int] = []
    norm: list[str] = []
    for ch in FORCE_CHANNELS:
        if ch not in index:
            raise SourceError(f"force plate stream has no channel labelled {ch!r} (labels: {list(labels)})")
        i = index[ch]
        unit = (units[i] or "").strip()
        table = FORCE_UNITS if ch.startswith("F") else MOMENT_UNITS
        if unit not in table:
            want = "N" if ch.startswith("F") else "N.m (or Nm, N*m)"
            raise SourceError(f"force plate channel {ch!r} has unit {unit!r}, expected {want}")
        cols.append(i)
        norm.append(table[unit])
    return cols, tuple(norm)


def channel_metadata(info: "pylsl.StreamInfo") -> tuple[list[str], list[str]]:
    labels: list[str] = []
    units: list[str] = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty():
        labels.append(ch.child_value("label"))
        units.append(ch.child_value("unit"))
        ch = ch.next_sibling()
    return labels, units


class LslPlateSource:
    #: its payloads name ports by label (drivers/common/port_label.py) and streams by name, never a file:
    #: nothing to pseudonymise (acquisition.source.emits_pseudonymous_names)
    emits_pseudonymous_names = True

    def __init__(self, config: LslPlateConfig, *, clock: Callable[[], float] = local_clock,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._clock, self._sleep = clock, sleep
        self._rep = Reporter("lsl_plate", _COUNTERS, clock=clock)
        self._inlet: pylsl.StreamInlet | None = None
        self._cols: list[int] = []
        self._streams: tuple[StreamSpec, ...] = ()
        self._dtype = np.float32
        self._seq = 0
        self._stepoff = StepOffDetector(config.step_off)
        self._last_sample_host = 0.0
        self._stalled = False
        self._rate = 0.0
        self._last_ts = -np.inf
        self._stop = threading.Event()
        self._clock_thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return f"lsl:{self.config.stream_name}"

    @property
    def streams(self) -> Sequence[StreamSpec]:
        return self._streams

    def open(self) -> None:
        cfg = self.config
        found = pylsl.resolve_byprop("name", cfg.stream_name, minimum=1, timeout=cfg.resolve_timeout_s)
        if not found:
            raise SourceError(f"no LSL stream named {cfg.stream_name!r} found within {cfg.resolve_timeout_s} s")
        if len(found) > 1:
            ids = sorted({f.source_id() for f in found})
            raise SourceError(f"{len(found)} LSL streams named {cfg.stream_name!r} (source ids {ids}): ambiguous")
        inlet = pylsl.StreamInlet(found[0], max_buflen=cfg.max_buflen_s, processing_flags=0, recover=True)
        info = inlet.info(timeout=cfg.resolve_timeout_s)  # full info, with the desc metadata
        labels, units = channel_metadata(info)
        if len(labels) != info.channel_count():
            inlet.close_stream()
            raise SourceError(f"LSL stream {cfg.stream_name!r} has {info.channel_count()} channels but "
                              f"{len(labels)} described in desc/channels; labels and units are required")
        try:
            self._cols, norm_units = check_channels(labels, units)
        except SourceError:
            inlet.close_stream()
            raise
        fmt = info.channel_format()
        if fmt == pylsl.cf_float32:
            self._dtype, dtype_name = np.float32, "float32"
        elif fmt == pylsl.cf_double64:
            self._dtype, dtype_name = np.float64, "float64"
        else:
            inlet.close_stream()
            raise SourceError(f"LSL stream {cfg.stream_name!r}: channel format {fmt} is not float32/float64")
        self._rate = float(info.nominal_srate())
        dev = DeviceIdentity(model=info.desc().child("acquisition").child_value("model") or info.type() or "force plate",
                             serial=stream_serial(info), vendor=info.desc().child("acquisition").child_value("manufacturer") or "unknown",
                             firmware="unknown", simulated=info.desc().child("acquisition").child_value("simulated") == "true",
                             transport=f"lsl:{cfg.stream_name}")  # never the sender's hostname (names a PC)
        self._streams = (
            StreamSpec(name="plate_raw", kind="plate", channels=FORCE_CHANNELS, units=norm_units, dtype=dtype_name,
                       nominal_rate=self._rate, device=dev, scale_source="as published on LSL (physical units)"),
            StreamSpec(name="cop", kind="cop", channels=COP_CHANNELS, units=("mm", "mm"), dtype="float64",
                       nominal_rate=self._rate, device=dev,
                       scale_source=f"cop.py six-component formula, h = {cfg.h_mm} mm"),
        )
        inlet.open_stream(timeout=cfg.resolve_timeout_s)
        self._inlet = inlet
        self._last_sample_host = self._clock()
        self._clock_thread = threading.Thread(target=self._clock_loop, name="lsl-plate-clock", daemon=True)
        self._clock_thread.start()
        self._rep.event("stream.opened", level="info", lsl_name=cfg.stream_name, source_id=info.source_id(),
                        rate_hz=self._rate, labels=labels, units=units)

    def read(self, timeout: float) -> Sequence[Chunk]:
        inlet = self._inlet
        if inlet is None:
            return []
        samples, stamps = inlet.pull_chunk(timeout=timeout, max_samples=4096)
        t_read = self._clock()
        if not stamps:
            if not self._stalled and t_read - self._last_sample_host > max(1.0, 20.0 / max(self._rate, 1.0)):
                self._stalled = True
                self._rep.event("stream.stalled", count="stalls", stream="plate_raw",
                                silent_s=round(t_read - self._last_sample_host, 3))
            return []
        if self._stalled:
            self._stalled = False
            self._rep.event("stream.resumed", stream="plate_raw", level="info",
                            silent_s=round(t_read - self._last_sample_host, 3))
        self._last_sample_host = t_read
        data = np.asarray(samples, dtype=np.float64)[:, self._cols]
        ts = np.asarray(stamps, dtype=np.float64)
        n = len(ts)
        back = int((np.diff(np.concatenate([[self._last_ts], ts])) <= 0).sum())
        if back:
            self._rep.event("timestamps.not_increasing", count="out_of_order", n=back, stream="plate_raw")
        self._last_ts = float(ts[-1])
        seq = np.arange(self._seq, self._seq + n, dtype=np.int64)
        self._seq += n
        self._rep.count("frames", n)
        load_kg = data[:, 2] / self.config.gravity
        for i, what, f in self._stepoff.update(load_kg):
            self._rep.event("subject.stepped_off" if what == "off" else "subject.stepped_on", kind="qc",
                            level="info", stream="plate_raw", t_lsl=float(ts[i]), count=f"stepped_{what}",
                            load_kg=round(f, 2), threshold_kg=self.config.step_off.threshold_kg)
        cop = cop_from_forces(data, h_m=self.config.h_mm / 1000.0,
                              min_fz_n=self.config.step_off.threshold_kg * self.config.gravity)
        tr = np.full(n, t_read)
        return [Chunk.build("plate_raw", data.astype(self._dtype), seq, ts, tr), Chunk.build("cop", cop, seq, ts, tr)]

    def _clock_loop(self) -> None:
        # time_correction() blocks (first call up to seconds): sampled off the reader thread
        while not self._stop.is_set():
            inlet = self._inlet
            if inlet is None:
                return
            self._time_correction(inlet)
            self._stop.wait(self.config.clock_every_s)

    def _time_correction(self, inlet: "pylsl.StreamInlet") -> None:
        try:
            off = inlet.time_correction(timeout=2.0)
        except Exception as exc:  # noqa: BLE001 - pylsl raises TimeoutError / LostError
            self._rep.event("lsl.time_correction_failed", kind="clock", count="clock_failures",
                            detail=str(exc) or type(exc).__name__)
            return
        self._rep.event("lsl.time_correction", kind="clock", level="debug", offset_s=float(off),
                        t_local=self._clock())

    def drain_events(self) -> Sequence[Event]:
        return self._rep.drain_events()

    def counters(self) -> Mapping[str, int]:
        return self._rep.counters()

    def close(self) -> None:
        self._stop.set()
        if self._clock_thread is not None:
            self._clock_thread.join(timeout=3.0)
            self._clock_thread = None
        if self._inlet is not None:
            try:
                self._inlet.close_stream()
            finally:
                self._inlet = None
