"""Record a stream someone else publishes on LSL (a vendor's app, LabRecorder's use case).

Raw LSL timestamps are stored as they arrive (no destructive post-processing); the `time_correction()` series is
recorded as `clock` events so the offset can be applied later. LSL can drop samples silently when a consumer
stalls, so the inlet buffer is sized generously and completeness is checked: with a counter channel
(`seq_channel`) every missing sample number is a gap; without one, the received count is compared with the
nominal rate and holes in the timestamps are reported. An outlet that stops altogether never raises here
(`recover=True`): the session manager's delivery watch reports it (`stream.stalled`) and the QC counts the
silence against the time the visit recorded the stream (`expected_by_window`).

The file keeps what identifies the stream for a data manager (name, type, source_id, rate, channel count),
never the sending machine's hostname.

What the outlet says it is, read after `open()` and never guessed: `simulated` (its `desc/acquisition/simulated`,
or the configuration's), and `replay_sha256`, the SHA-256 of the visit file an `amuse-acq replay --lsl` plays
(its `desc/replay/sha256`). Both go into the recorded stream's device identity (`simulated`, and `transport`
`lsl:<name> replay sha256:<16 hex>`); the session refuses both in production and otherwise marks the visit
(`sessions.lsl_provenance`). A stream with a `desc/replay` but no valid SHA-256 is refused: it says it is a replay
without saying of what.

It reports in the drivers' vocabulary, through the same `Reporter` (acquisition/events.py): `stream.opened`,
`samples.missing` (payload `lost`), `samples.reordered` (a counter that went back or repeated), `link.disconnected`
/ `link.reconnected` (the outlet lost beyond recovery, then data again); counters `frames`, `gaps`, `samples_lost`,
`disconnects`, `reconnects`, and `expected_by_rate`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from acquisition.chunk import Chunk
from acquisition.events import Event, EventKind
from acquisition.lslenv import local_clock, pylsl
from acquisition.reporter import Reporter
from acquisition.source import SourceError
from acquisition.stream import DeviceIdentity, StreamKind, StreamSpec

_FORMATS = {
    pylsl.cf_float32: "float32",
    pylsl.cf_double64: "float64",
    pylsl.cf_int32: "int32",
    pylsl.cf_int16: "int16",
    pylsl.cf_int8: "int8",
    pylsl.cf_int64: "int64",
}

_KIND_BY_TYPE = {"emg": "emg", "mocap": "jaw", "force": "plate", "markers": "markers"}


class LslInletConfig(BaseModel):
    """How to find and record one LSL stream."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lsl_name: str = Field(min_length=1, description="LSL stream name to resolve")
    record_as: str | None = Field(default=None, description="stream name in the visit file; default from lsl_name")
    resolve_timeout_s: float = Field(default=5.0, gt=0)
    max_buffer_s: int = Field(default=360, ge=1, description="inlet buffer; generous so a stall loses nothing")
    seq_channel: int | None = Field(default=None, ge=0, description="index of a sample-counter channel, if any")
    time_correction_every_s: float = Field(default=5.0, gt=0)
    poll_s: float = Field(default=0.25, gt=0, le=0.5,
                          description="pull cadence: fewer, larger chunks cost less CPU (well inside the 1 s journal bound)")
    simulated: bool = False


def record_name(lsl_name: str) -> str:
    """A valid visit-file stream name from an LSL stream name ('EMG Amp-1' -> 'emg_amp_1')."""
    s = re.sub(r"[^a-z0-9]+", "_", lsl_name.lower()).strip("_") or "lsl"
    if not s[0].isalpha():
        s = "s_" + s
    return s[:48]


def channel_meta(info: "pylsl.StreamInfo") -> tuple[list[str], list[str]]:
    """Channel labels and units from desc/channels (XDF convention); defaults ch1.., '' when absent."""
    n = info.channel_count()
    labels = [f"ch{i + 1}" for i in range(n)]
    units = [""] * n
    ch = info.desc().child("channels").child("channel")
    i = 0
    while not ch.empty() and i < n:
        lab = ch.child_value("label")
        if lab:
            labels[i] = lab
        units[i] = ch.child_value("unit") or ch.child_value("units") or ""
        ch = ch.next_sibling()
        i += 1
    # labels must be unique in a StreamSpec
    seen: dict[str, int] = {}
    for k, lab in enumerate(labels):
        if lab in seen:
            labels[k] = f"{lab}_{k + 1}"
        seen[lab] = k
    return labels, units


def spec_row_bytes(spec: StreamSpec) -> int:
    return spec.n_channels * spec.np_dtype.itemsize


#: the serial of a stream whose outlet declares no source_id (never its per-run uid: the same device would get a
#: new serial every run)
NO_SOURCE_ID = "none (the outlet declares no source_id)"


def stream_serial(info: "pylsl.StreamInfo") -> str:
    """The device serial of an LSL stream: its source_id, or NO_SOURCE_ID."""
    return info.source_id() or NO_SOURCE_ID


def outlet_says_simulated(info: "pylsl.StreamInfo") -> bool:
    """`desc/acquisition/simulated` of a full StreamInfo is "true" (how this software's outlets say it)."""
    return info.desc().child("acquisition").child_value("simulated").strip().lower() == "true"


_SHA256 = re.compile(r"[0-9a-f]{64}")


def replay_sha256(info: "pylsl.StreamInfo") -> str | None:
    """The SHA-256 in `desc/replay/sha256` of a full StreamInfo (an `amuse-acq replay --lsl` outlet), None when the
    stream has no `desc/replay`; a `desc/replay` without a valid one is a `SourceError`."""
    replay = info.desc().child("replay")
    if replay.empty():
        return None
    sha = replay.child_value("sha256").strip()
    if not _SHA256.fullmatch(sha):
        raise SourceError(f"LSL stream {info.name()!r} says it is a replay (desc/replay) but gives no SHA-256 of the "
                          "file it replays")
    return sha


class LslInletSource:
    """A `Source` reading one LSL stream. Satisfies `acquisition.source.Source`."""

    #: its payloads name ports by label (drivers/common/port_label.py) and streams by name, never a file:
    #: nothing to pseudonymise (acquisition.source.emits_pseudonymous_names)
    emits_pseudonymous_names = True

    #: the stream is already on LSL: the session does not publish it a second time
    republish = False

    def __init__(self, config: LslInletConfig) -> None:
        self.config = config
        self._name = "lsl:" + config.lsl_name
        self._rep = Reporter("lsl_inlet", ("frames", "gaps", "samples_lost", "disconnects", "reconnects"),
                             clock=local_clock, logger="lsl_inlet")
        self._inlet: pylsl.StreamInlet | None = None
        self._spec: StreamSpec | None = None
        self._count = 0  # samples received
        self._next_seq: int | None = None
        self._link_lost = False
        self._t_first: float | None = None
        self._t_last: float | None = None
        self._next_tc = 0.0
        self._rate = 0.0
        self._full_info: pylsl.StreamInfo | None = None
        self.simulated = config.simulated  # after open(): also if the outlet says its device is simulated
        self.replay_sha256: str | None = None  # after open(): the file an LSL replay plays, if it is one

    def full_info(self) -> "pylsl.StreamInfo | None":
        """The stream's full StreamInfo (with desc()), available after `open()`."""
        return self._full_info

    # -- Source --------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def streams(self) -> Sequence[StreamSpec]:
        return [self._spec] if self._spec is not None else []

    def open(self) -> None:
        cfg = self.config
        found = pylsl.resolve_byprop("name", cfg.lsl_name, 1, cfg.resolve_timeout_s)
        if not found:
            others = [i.name() for i in pylsl.resolve_streams(min(1.0, cfg.resolve_timeout_s))]
            raise SourceError(
                f"no LSL stream named {cfg.lsl_name!r} found within {cfg.resolve_timeout_s:g} s"
                f" (visible: {', '.join(sorted(set(others))) or 'none'})"
            )
        info = found[0]
        fmt = _FORMATS.get(info.channel_format())
        if fmt is None:
            raise SourceError(f"LSL stream {cfg.lsl_name!r}: channel format {info.channel_format()} is not numeric")
        if cfg.seq_channel is not None and cfg.seq_channel >= info.channel_count():
            raise SourceError(
                f"LSL stream {cfg.lsl_name!r} has {info.channel_count()} channels; seq_channel {cfg.seq_channel} is out of range"
            )
        self._inlet = pylsl.StreamInlet(info, max_buflen=cfg.max_buffer_s, recover=True, as_numpy=True)
        try:
            self._inlet.open_stream(timeout=cfg.resolve_timeout_s)
            # a resolved StreamInfo carries no desc(): liblsl sends the full description to an opened inlet only
            full = self._inlet.info(timeout=cfg.resolve_timeout_s)
        except Exception as exc:  # noqa: BLE001 - pylsl raises its own TimeoutError/LostError types
            self._inlet = None
            raise SourceError(f"LSL stream {cfg.lsl_name!r} found but could not be opened: {exc}") from None
        self._full_info = full
        try:
            self.simulated, self.replay_sha256 = cfg.simulated or outlet_says_simulated(full), replay_sha256(full)
        except SourceError:
            self.close()
            raise
        labels, units = channel_meta(full)
        kind: StreamKind = _KIND_BY_TYPE.get(info.type().lower(), "other")  # type: ignore[assignment]
        self._rate = float(info.nominal_srate())
        self._spec = StreamSpec(
            name=cfg.record_as or record_name(cfg.lsl_name),
            kind=kind,
            channels=tuple(labels),
            units=tuple(units),
            dtype=fmt,  # type: ignore[arg-type]
            nominal_rate=self._rate,
            # what a data manager needs and nothing about the sending machine: no hostname (it names a PC of
            # the site, often after a person or a room), no per-run uid; name, type, source_id, rate, channels
            device=DeviceIdentity(
                model=info.type() or "LSL stream",
                serial=stream_serial(info),
                vendor="unknown",
                firmware="unknown",
                simulated=self.simulated,
                transport=f"lsl:{info.name()}" + (f" replay sha256:{self.replay_sha256[:16]}"
                                                  if self.replay_sha256 else ""),
            ),
        )
        # one pull takes everything available, up to ~16 MB of samples (several pulls for very wide streams)
        row_bytes = max(1, spec_row_bytes(self._spec))
        self._max_samples = max(64, min(1_000_000, (16 * 1024 * 1024) // row_bytes))
        self._next_pull = 0.0
        self._event("device", "stream.opened", {"lsl_name": info.name(), "type": info.type(),
                                                 "source_id": info.source_id(), "rate": self._rate,
                                                 "channels": info.channel_count()}, level="info")

    def read(self, timeout: float) -> Sequence[Chunk]:
        inlet, spec = self._inlet, self._spec
        if inlet is None or spec is None:
            raise SourceError(f"{self._name}: read() before open()")
        now = local_clock()
        if now >= self._next_tc:
            self._next_tc = now + self.config.time_correction_every_s
            self._time_correction(inlet)
        # pace the pulls: wait (at most `timeout`) for the next pull time, then take everything available
        wait = min(timeout, self._next_pull - now)
        if wait > 0:
            time.sleep(wait)
        self._next_pull = max(self._next_pull + self.config.poll_s, local_clock())
        try:
            data, ts = inlet.pull_chunk(timeout=0.0, max_samples=self._max_samples)
        except pylsl.LostError:
            if not self._link_lost:  # one event for the outage, not one per read
                self._link_lost = True
                self._event("device", "link.disconnected", {"detail": "the LSL outlet is lost"}, count="disconnects")
            return []
        n = len(ts)
        if n == 0:
            return []
        if self._link_lost:
            self._link_lost = False
            self._event("device", "link.reconnected", {"detail": "the LSL outlet sends again"}, count="reconnects",
                        level="info")
        if n >= self._max_samples:
            self._next_pull = local_clock()  # more is waiting: pull again at once
        data = np.asarray(data, dtype=spec.np_dtype).reshape(n, spec.n_channels)
        ts = np.asarray(ts, dtype=np.float64)
        seq = self._sequence(data, ts)
        self._count += n
        self._rep.count("frames", n)
        if self._t_first is None:
            self._t_first = float(ts[0])
        self._t_last = float(ts[-1])
        return [Chunk.build(spec.name, data, seq, ts)]

    def _sequence(self, data: np.ndarray, ts: np.ndarray) -> np.ndarray:
        n = len(ts)
        cfg = self.config
        if cfg.seq_channel is not None:
            seq = np.rint(data[:, cfg.seq_channel].astype(np.float64)).astype(np.int64)
        else:
            base = self._count if self._next_seq is None else self._next_seq
            seq = np.arange(base, base + n, dtype=np.int64)
            if self._rate > 0 and self._t_last is not None:
                # no counter: infer holes from the timestamps (> 1.5 periods between samples)
                t_prev = np.concatenate(([self._t_last], ts))
                missing = np.rint(np.diff(t_prev) * self._rate).astype(np.int64) - 1
                missing[np.abs(np.diff(t_prev)) < 1.5 / self._rate] = 0
                if missing.any():
                    seq = seq + np.cumsum(np.clip(missing, 0, None))
        expected = self._next_seq
        if expected is not None and len(seq):
            steps = np.diff(np.concatenate(([expected - 1], seq)))
            holes = steps - 1
            bad = holes != 0
            if bad.any():
                for idx in np.flatnonzero(bad):
                    k = int(holes[idx])
                    self._event("device", "samples.missing" if k > 0 else "samples.reordered",
                                {"lost": k, "before_seq": int(seq[idx]), "t_sample": float(ts[idx])}, count="gaps")
                    if k > 0:
                        self._rep.count("samples_lost", k)
        self._next_seq = int(seq[-1]) + 1 if len(seq) else expected
        return seq

    def _time_correction(self, inlet: "pylsl.StreamInlet") -> None:
        try:
            t0 = local_clock()
            offset = float(inlet.time_correction(timeout=0.5))
            self._event("clock", "lsl.time_correction", {"offset_s": offset, "t_local": t0}, level="debug")
        except Exception as exc:  # noqa: BLE001 - a missing correction is reported, not fatal
            self._event("clock", "lsl.time_correction_failed", {"error": str(exc)})

    def _event(self, kind: EventKind, name: str, payload: Mapping[str, object], *, count: str | None = None,
               level: str = "warning") -> None:
        self._rep.event(name, kind=kind, stream=self._spec.name if self._spec else "", count=count, level=level,
                        **payload)

    def drain_events(self) -> Sequence[Event]:
        return self._rep.drain_events()

    def counters(self) -> Mapping[str, int]:
        expected = 0
        if self._rate > 0 and self._t_first is not None and self._t_last is not None:
            expected = int(round((self._t_last - self._t_first) * self._rate)) + 1
        return {**self._rep.counters(), "expected_by_rate": expected}

    def close(self) -> None:
        if self._inlet is not None:
            try:
                self._inlet.close_stream()
            finally:
                self._inlet = None
