"""Republish a sealed visit on LSL with its original timing: every stream as an outlet, its events as markers.

What a consumer gets, and why (docs/replay-lsl.md says it for a user):

- **device_seq in channel 0 of every stream** (label `device_seq`). A sample and its number travel in one LSL
  sample, so they are delivered or lost together: a recorder proves completeness from the numbers alone
  (`amuse-acq record --lsl A --lsl B --seq-channel 0`, one index for every replayed stream). A companion
  `<name>-seq` stream would prove only that the companion arrived, and the marker stream is irregular strings.
- **Raw device codes**, never rescaled, in the smallest LSL format that holds both the codes and the numbers
  exactly (all channels of an LSL stream share one format, and LSL has no unsigned types): 8/16-bit codes and
  int32 -> int32 (int64 once device_seq passes 2^31 - 1), uint32 and int64 -> int64, float32 and float64 ->
  double64 (float32 holds integers exactly only to 2^24: 2.3 h of a 2 kHz stream). Each channel's desc says
  `unit` (what the value is: the raw unit when the stream has a scale), `physical_unit`, `scale` and `offset`,
  so a viewer converts with `value * scale + offset`.
- **Original timing.** Sample times are `origin + (t_lsl - t0) / speed` from one absolute origin taken when
  playing starts, and pushed as each sample's explicit timestamp. The loop wakes every `tick_s`, pushes what is
  due by then and sleeps toward the next due time: a late wake-up delays delivery, never a timestamp, and never
  accumulates (nothing sleeps "one chunk"). Each wake-up pushes at most one block per stream, so a stop request
  is seen within a block even when far behind.
- **`nominal_srate` is the original rate**, whatever the speed (`desc/replay/speed` says it). liblsl sizes both
  ends' buffers as `max_buffered` seconds x nominal rate and allocates them up front: declaring 1 kHz x 200 made
  a 65-channel outlet take 4.3 s and 1.4 GB to create, and the recorder's inlet (360 s) as much. With the
  original rate, memory stays the live device's at any speed; the price is that the buffers hold 360 / speed
  seconds of wall time, and that a consumer checking the rate must multiply it by the speed.
- **Loop.** Pass k is shifted by k periods, a period being the visit's span plus the slowest stream's sample
  period: timestamps keep increasing across passes, and device_seq continues (+ k x (max - min + 1) per stream),
  so a recorder sees one contiguous stream with the original holes repeated, never a number twice.
- **Markers**: one irregular string stream (`amuse_visit_events-replay`), each sample the JSON of one event
  (`i` its row in the file, `loop`, `t_lsl` as recorded, `utc`, `kind`, `name`, `stream`, `step`, `payload`),
  stamped like the samples. (loop, i) numbers every marker, so a marker lost is provable too.
- **Nothing that names the patient goes on the network** (anyone on it can resolve an outlet): the payloads lose
  their `subject`, `visit` and `operator` keys (`visit.opened` has them), and `desc/replay` names the file by its
  SHA-256 only (`sha256`), never by its name (the pseudonym and visit code). A recorder keeps that SHA-256 as the
  new visit's `replay_of` (acquisition/lsl/inlet.py).

Names and source ids end in `-replay` (`name_suffix`), so a replay is never taken for the live device, whose
outlet (acquisition/lsl/outlet.py, built by the same `stream_info`) uses the bare serial.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from types import TracebackType

import numpy as np
from pydantic import BaseModel, ConfigDict

from acquisition.log import get_logger
from acquisition.lsl.outlet import stream_info
from acquisition.lslenv import local_clock, pylsl
from acquisition.replay.origin import file_sha256
from acquisition.stream import StreamSpec
from acquisition.visitfile.reader import StreamView, VisitFile

REPLAY_SUFFIX = "-replay"
#: payload keys never published (`visit.opened`'s identity of the patient and operator)
IDENTITY_KEYS = frozenset({"subject", "visit", "operator"})
SEQ_CHANNEL = 0
SEQ_LABEL = "device_seq"
MARKER_STREAM = "visit_events"

_INT32_MAX = 2**31 - 1
_EXACT_FLOAT64 = 2**53
_NARROW_INTS = ("int8", "uint8", "int16", "uint16", "int32")
_WIDE_INTS = ("uint32", "int64")
_FORMATS = {"int32": (pylsl.cf_int32, _INT32_MAX), "int64": (pylsl.cf_int64, 2**63 - 1),
            "float64": (pylsl.cf_double64, _EXACT_FLOAT64)}


class ReplayError(Exception):
    """The replay cannot go on; the message is one line naming the stream and what was found."""


def lsl_format(dtype: str, seq_min: int, seq_max: int) -> str:
    """The numpy name of the LSL format ('int32', 'int64' or 'float64') that holds raw `dtype` codes and device
    numbers in `[seq_min, seq_max]` exactly."""
    if dtype in ("float32", "float64"):
        if max(abs(seq_min), abs(seq_max)) > _EXACT_FLOAT64:
            raise ReplayError(f"device_seq {seq_max} is beyond 2^53: a double64 stream cannot carry it exactly")
        return "float64"
    if dtype in _NARROW_INTS:
        return "int32" if -_INT32_MAX <= seq_min and seq_max <= _INT32_MAX else "int64"
    if dtype in _WIDE_INTS:
        return "int64"
    raise ReplayError(f"raw dtype {dtype!r} has no LSL format here")


class PublishedStream(BaseModel):
    """One outlet of the replay, as printed before playing and reported after."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stream: str  # the visit file's stream name ('' for the marker stream)
    lsl_name: str
    source_id: str
    channel_format: str  # numpy name, or 'string' for the markers
    channel_count: int
    nominal_srate: float  # as declared: the original rate (0 = irregular); samples arrive `speed` times faster
    rows: int  # samples (or events) per pass


class ReplayStats(BaseModel):
    """What a run pushed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    passes: int  # passes played to their end
    samples: dict[str, int]  # pushed per stream, every pass
    events: int
    stopped: bool  # ended by a stop request
    seconds: float  # from the origin to the last push
    max_late_s: float  # worst delay of a push behind its sample's scheduled time


class _Scan(BaseModel):
    """A stream's time and number ranges, read once in blocks (never the whole stream in memory)."""

    model_config = ConfigDict(frozen=True)

    t_min: float
    t_max: float
    seq_min: int
    seq_max: int


def _scan(view: StreamView, block: int) -> _Scan | None:
    n = view.n_samples
    if n == 0:
        return None
    t_lo, t_hi, s_lo, s_hi = math.inf, -math.inf, None, None
    for i in range(0, n, block):
        t, s = view.t_lsl(i, i + block), view.device_seq(i, i + block)
        t_lo, t_hi = min(t_lo, float(t.min())), max(t_hi, float(t.max()))
        s_lo = int(s.min()) if s_lo is None else min(s_lo, int(s.min()))
        s_hi = int(s.max()) if s_hi is None else max(s_hi, int(s.max()))
    assert s_lo is not None and s_hi is not None
    return _Scan(t_min=t_lo, t_max=t_hi, seq_min=s_lo, seq_max=s_hi)


class _Cursor:
    """Where one stream's pass stands: the block of rows in hand (read when the previous one is pushed), their
    scheduled times, and the next row to push."""

    def __init__(self, view: StreamView, scan: _Scan | None, outlet: "pylsl.StreamOutlet", fmt: str,
                 block: int) -> None:
        self.view, self.scan, self.outlet, self.fmt, self.block = view, scan, outlet, fmt, block
        self.pushed = 0
        self._n = view.n_samples
        self._next = self._b0 = 0  # next row to push; first row of the block in hand
        self._rows: np.ndarray | None = None
        self._sched = self._due = np.empty(0)
        self._base, self._t0, self._speed, self._seq_shift = 0.0, 0.0, 1.0, 0

    def start_pass(self, k: int, *, base: float, t0: float, speed: float) -> None:
        """Rewind for pass k, whose row times are `base + (t_lsl - t0) / speed`; refuse a pass whose device_seq
        the stream's LSL format could not carry exactly."""
        self._base, self._t0, self._speed = base, t0, speed
        self._next = self._b0 = 0
        self._rows = None
        if self.scan is not None:
            self._seq_shift = k * (self.scan.seq_max - self.scan.seq_min + 1)
            top, exact = self.scan.seq_max + self._seq_shift, _FORMATS[self.fmt][1]
            if top > exact:
                raise ReplayError(f"stream {self.view.name!r}: device_seq would reach {top} in pass {k + 1}, beyond "
                                  f"what an LSL {self.fmt} channel holds exactly ({exact})")

    @property
    def done(self) -> bool:
        return self._next >= self._n

    def _load(self) -> None:
        i0, i1 = self._next, min(self._next + self.block, self._n)
        rows = np.empty((i1 - i0, self.view.spec.n_channels + 1), dtype=self.fmt)
        rows[:, SEQ_CHANNEL] = self.view.device_seq(i0, i1) + self._seq_shift
        rows[:, SEQ_CHANNEL + 1:] = self.view.read(i0, i1)
        self._rows, self._b0 = rows, i0
        self._sched = self._base + (self.view.t_lsl(i0, i1) - self._t0) / self._speed
        # a row goes out once it and every row before it are due (row order is the file's, even where raw
        # inlet stamps step back): search the running maximum
        self._due = np.maximum.accumulate(self._sched)

    def push_due(self, now: float) -> tuple[float, float]:
        """Push the rows of the block in hand that are due by `now`; (the next row's due time, or inf at the end
        of the pass; how late this push is behind its first row's time)."""
        if self.done:
            return math.inf, 0.0
        if self._rows is None:
            self._load()
        assert self._rows is not None
        j, j1 = self._next - self._b0, int(np.searchsorted(self._due, now, "right"))
        late = 0.0
        if j1 > j:
            self.outlet.push_chunk(self._rows[j:j1], self._sched[j:j1].tolist())
            late = now - float(self._due[j])
            self.pushed += j1 - j
            self._next = self._b0 + j1
        if j1 >= len(self._rows):
            if self.done:
                self._rows = None
                return math.inf, late
            self._load()  # read now, pushed from the next wake-up: one block per stream per wake-up
        return float(self._due[self._next - self._b0]), late


class LslPlayer:
    """Replays an open, sealed `VisitFile` on LSL. Use as a context manager (outlets exist inside it):

        with VisitFile.open(path, verify="full") as vf, LslPlayer(vf, speed=2.0) as player:
            print(player.published)
            stats = player.run(stop=stop_event)
    """

    def __init__(self, vf: VisitFile, *, speed: float = 1.0, loop: bool = False, name_prefix: str = "amuse_",
                 name_suffix: str = REPLAY_SUFFIX, tick_s: float = 0.01, max_wait_s: float = 0.05,
                 block_rows: int = 4096, linger_s: float = 1.0, max_buffered_s: int = 360,
                 clock: Callable[[], float] = local_clock, sleep: Callable[[float], None] = time.sleep) -> None:
        # every argument is checked before anything is published
        if not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a finite number > 0, not {speed!r}")
        if not name_suffix:
            raise ValueError("name_suffix must not be empty: a replay must never take the live device's source_id")
        if not (0 < tick_s <= max_wait_s <= 1.0):
            raise ValueError(f"need 0 < tick_s <= max_wait_s <= 1 s, got {tick_s!r}, {max_wait_s!r}")
        if block_rows < 1 or linger_s < 0 or max_buffered_s < 1:
            raise ValueError("block_rows and max_buffered_s must be >= 1 and linger_s >= 0")
        self.vf, self.speed, self.loop = vf, float(speed), loop
        self._prefix, self._suffix = name_prefix, name_suffix
        self._tick, self._max_wait, self._block, self._linger = tick_s, max_wait_s, block_rows, linger_s
        self._max_buffered, self._clock, self._sleep = max_buffered_s, clock, sleep
        self._log = get_logger("replay.lsl", visit=vf.path.name)
        self._cursors: list[_Cursor] = []
        self._markers: list[tuple[float, dict[str, object]]] = []  # (t_lsl, the marker without its loop)
        self._marker_outlet: pylsl.StreamOutlet | None = None
        self._sha256 = ""  # of the file's bytes, read at open (`desc/replay/sha256`)
        self.published: list[PublishedStream] = []

    # -- outlets -------------------------------------------------------------------------------------------
    def open(self) -> "LslPlayer":
        if self._cursors or self._marker_outlet is not None:
            raise ReplayError("the player is already open")
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def _open(self) -> None:
        self._sha256 = file_sha256(self.vf.path)
        views = [self.vf.streams[n] for n in self.vf.streams]
        scans = [_scan(v, 65536) for v in views]
        for view, scan in zip(views, scans, strict=True):
            spec = view.spec
            fmt = lsl_format(spec.dtype, scan.seq_min if scan else 0, scan.seq_max if scan else 0)
            wire = self._wire_spec(spec)
            info = stream_info(wire, name_prefix=self._prefix, name_suffix=self._suffix,
                               channel_format=_FORMATS[fmt][0], source_id=spec.device.serial + self._suffix)
            self._describe(info, spec)
            outlet = pylsl.StreamOutlet(info, 0, self._max_buffered)
            self._cursors.append(_Cursor(view, scan, outlet, fmt, self._block))
            self.published.append(PublishedStream(stream=spec.name, lsl_name=info.name(), source_id=info.source_id(),
                                                  channel_format=fmt, channel_count=wire.n_channels,
                                                  nominal_srate=wire.nominal_rate, rows=view.n_samples))
        events = self.vf.events()
        rows = sorted(range(len(events)), key=lambda r: events[r].t_lsl)  # stable: journal order among equals
        self._markers = [(events[r].t_lsl, {"i": r, "t_lsl": events[r].t_lsl, "utc": events[r].utc,
                                             "kind": events[r].kind, "name": events[r].name,
                                             "stream": events[r].stream, "step": events[r].step,
                                             "payload": {k: v for k, v in events[r].payload.items()
                                                         if k not in IDENTITY_KEYS}}) for r in rows]
        if self._markers:
            info = pylsl.StreamInfo(self._prefix + MARKER_STREAM + self._suffix, "Markers", 1, pylsl.IRREGULAR_RATE,
                                    pylsl.cf_string, "amuse-" + MARKER_STREAM + self._suffix)
            self._replay_desc(info.desc())
            self._marker_outlet = pylsl.StreamOutlet(info, 0, self._max_buffered)
            self.published.append(PublishedStream(stream="", lsl_name=info.name(), source_id=info.source_id(),
                                                  channel_format="string", channel_count=1, nominal_srate=0.0,
                                                  rows=len(self._markers)))
        spans = [s for s in scans if s is not None]
        times = [s.t_min for s in spans] + [s.t_max for s in spans] + [m[0] for m in self._markers]
        self._t0 = min(times, default=0.0)
        rates = [c.view.spec.nominal_rate for c in self._cursors if c.view.spec.nominal_rate > 0]
        # one slowest-stream period between passes keeps every stream's times increasing across the seam
        self._period = (max(times, default=0.0) - self._t0) + (1.0 / min(rates) if rates else 0.1)

    def _wire_spec(self, spec: StreamSpec) -> StreamSpec:
        """The stream as it goes on the wire: device_seq first, then the raw codes (original rate and identity)."""
        scaled = spec.scale is not None or spec.offset is not None
        units = tuple((spec.raw_units or "raw") if scaled else u for u in spec.units)
        return StreamSpec.model_validate({**spec.model_dump(), "channels": (SEQ_LABEL, *spec.channels),
                                          "units": ("count", *units), "scale": None, "offset": None})

    def _describe(self, info: "pylsl.StreamInfo", spec: StreamSpec) -> None:
        ch = info.desc().child("channels").child("channel")
        ch.set_child_value("type", SEQ_LABEL)
        for i, unit in enumerate(spec.units):
            ch = ch.next_sibling()
            ch.append_child_value("physical_unit", unit)
            ch.append_child_value("scale", repr(float(spec.scale[i])) if spec.scale is not None else "1.0")
            ch.append_child_value("offset", repr(float(spec.offset[i])) if spec.offset is not None else "0.0")
        self._replay_desc(info.desc())

    def _replay_desc(self, desc: "pylsl.XMLElement") -> None:
        r = desc.append_child("replay")
        r.append_child_value("sha256", self._sha256)
        r.append_child_value("speed", repr(self.speed))
        r.append_child_value("loop", "true" if self.loop else "false")
        r.append_child_value("seq_channel", str(SEQ_CHANNEL))

    def wait_for_consumers(self, timeout_s: float, *, stop: threading.Event | None = None) -> list[str]:
        """Wait up to `timeout_s` (on the player's clock) until every stream outlet has a consumer (the markers
        excepted: a sample recorder cannot take strings), or until `stop` is set (a Ctrl-C is seen within
        `max_wait_s`); the LSL names still without one."""
        deadline = self._clock() + max(0.0, timeout_s)
        while True:
            waiting = [p.lsl_name for p, c in zip(self.published, self._cursors) if not c.outlet.have_consumers()]
            left = deadline - self._clock()
            if not waiting or left <= 0 or (stop is not None and stop.is_set()):
                return waiting
            self._sleep(min(self._max_wait, max(self._tick, left)))

    def close(self) -> None:
        # dropping the last reference destroys an outlet (as StreamOutletView does)
        self._cursors, self._marker_outlet = [], None

    def __enter__(self) -> "LslPlayer":
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- playing -------------------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None, *, max_passes: int | None = None) -> ReplayStats:
        """Play once (or, with `loop`, until `stop` or `max_passes`), then keep the outlets `linger_s` so the
        consumers take the tail; returns what was pushed."""
        if not self._cursors and self._marker_outlet is None:
            raise ReplayError("run() before open(): no outlet is published")
        stop = stop or threading.Event()
        origin = self._clock()
        passes, events, late, stopped, last = 0, 0, 0.0, False, origin
        self._log.info("replay.started", speed=self.speed, loop=self.loop, streams=len(self._cursors),
                       events=len(self._markers))
        while max_passes is None or passes < max_passes:
            base = origin + passes * self._period / self.speed
            for c in self._cursors:
                c.start_pass(passes, base=base, t0=self._t0, speed=self.speed)
            n_ev, late_k, last, stopped = self._play_pass(passes, base, stop)
            events, late = events + n_ev, max(late, late_k)
            if stopped:
                break
            passes += 1
            self._log.info("replay.pass_ended", passes=passes)
            if not self.loop:
                break
        t_end = self._clock() + self._linger
        while not stop.is_set() and self._clock() < t_end:
            self._sleep(min(self._max_wait, max(0.0, t_end - self._clock())))
        stats = ReplayStats(passes=passes, samples={c.view.name: c.pushed for c in self._cursors}, events=events,
                            stopped=stopped, seconds=last - origin, max_late_s=late)
        self._log.info("replay.ended", **stats.model_dump())
        return stats

    def _play_pass(self, k: int, base: float, stop: threading.Event) -> tuple[int, float, float, bool]:
        """One pass; (events pushed, worst lateness, clock at the last push, stopped)."""
        m, late, last = 0, 0.0, base
        while True:
            now = self._clock()
            nxt = math.inf
            for c in self._cursors:
                due, lt = c.push_due(now)
                nxt, late = min(nxt, due), max(late, lt)
            while m < len(self._markers):
                t, body = self._markers[m]
                sched = base + (t - self._t0) / self.speed
                if sched > now:
                    nxt = min(nxt, sched)
                    break
                assert self._marker_outlet is not None
                self._marker_outlet.push_sample([json.dumps({**body, "loop": k}, sort_keys=True)], sched)
                late, m = max(late, now - sched), m + 1
            if nxt == math.inf:
                return m, late, now, False
            last = now
            if stop.is_set():
                return m, late, last, True
            # behind: go on at once; else wake at the next due time, but not sooner than a tick (pushes come in
            # batches) nor later than max_wait (a stop is seen)
            wait = nxt - self._clock()
            if wait > 0:
                self._sleep(min(self._max_wait, max(self._tick, wait)))
