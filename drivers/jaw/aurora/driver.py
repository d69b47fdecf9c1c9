"""`AuroraJawSource`: the NDI Aurora / Polaris jaw tracker as an `acquisition.source.Source`.

Streams:
- `jaw_incisal` (float32, mm, nominal 40 Hz): x_lat (+right), y_vert (+up), z_ap (+forward) of the incisal point
  in the head frame relative to ICP; NaN while either sensor is MISSING/DISABLED.
- `jaw_tools` (int64 raw protocol integers with scale attributes): per tool (head_, jaw_) q0 qx qy qz (x1e-4),
  tx ty tz (x0.01 mm), err (x1e-4 mm), port_status (TX port status bits), state (0 ok, 1 MISSING, 2 DISABLED,
  3 absent from the reply); then frame (the device frame number) and system_status.
`device_seq` is the device frame number, offset after each re-initialisation so it keeps increasing and the
outage shows as a gap of the length of the outage. `t_lsl` is the CounterClock fit of frame number -> LSL time,
`t_read` the host read stamps (LSL local_clock, taken in the polling process; an injected `clock` only
stamps this process's events).

The tracker runs in a child process (`TxPoller`, drivers/jaw/aurora/poller.py) from open() to close(), polling at
`poll_factor` x the device rate whatever the caller's read() cadence and however busy this process's GIL is;
read(timeout) waits `timeout` and converts what the child collected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from acquisition.chunk import Chunk
from acquisition.clock import CounterClock
from acquisition.events import Event, EventKind
from acquisition.lslenv import local_clock
from acquisition.log import get_logger
from acquisition.source import SourceError
from acquisition.stream import DeviceIdentity, StreamSpec
from drivers.common.port_label import port_label, transport_label
from drivers.common.reporter import Reporter
from drivers.common.sequence import continue_after_outage
from drivers.jaw.aurora.codec import STATE_CODES, TxReply
from drivers.jaw.aurora.config import AuroraConfig
from drivers.jaw.aurora.discovery import find_port
from drivers.jaw.aurora.geometry import incisal_point
from drivers.jaw.aurora.poller import WIRE_COUNTERS, TxPoller
from drivers.jaw.aurora.tracker import Note, PollItem, Reinit, Reply

INCISAL_CHANNELS = ("x_lat", "y_vert", "z_ap")
_TOOL_FIELDS = ("q0", "qx", "qy", "qz", "tx", "ty", "tz", "err", "port_status", "state")
_TOOL_SCALE = (1e-4, 1e-4, 1e-4, 1e-4, 0.01, 0.01, 0.01, 1e-4, 1.0, 1.0)
_TOOL_UNITS = ("1", "1", "1", "1", "mm", "mm", "mm", "mm", "bits", "code")
TOOL_CHANNELS = tuple(f"{r}_{f}" for r in ("head", "jaw") for f in _TOOL_FIELDS) + ("frame", "system_status")

_INFO_EVENTS = frozenset({"device.opened", "device.closed", "link.reconnected", "device.reinitialised", "icp.set"})

SCALE_SOURCE = "NDI Combined API TX reply option 0001 (ndicapi ndiGetTXTransformf: q x1e-4, t x0.01 mm, err x1e-4)"


class AuroraJawSource:
    """Source of `jaw_incisal` + `jaw_tools`. Construct with keyword options; `open()` then `read()`."""

    #: its payloads name ports by label (drivers/common/port_label.py) and streams by name, never a file:
    #: nothing to pseudonymise (acquisition.source.emits_pseudonymous_names)
    emits_pseudonymous_names = True

    def __init__(
        self,
        cfg: AuroraConfig,
        *,
        name: str = "aurora",
        clock: Callable[[], float] = local_clock,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cfg = cfg
        self._name = name
        self._clock = clock
        self._sleep = sleep
        self._poller: TxPoller | None = None
        self._streams: tuple[StreamSpec, ...] = ()
        self._rep = Reporter("aurora", ("frames", "gaps", "samples_lost", "duplicates", "missing_head", "missing_jaw",
                                        "unsequenced", "reconnects", "disconnects", "unread_at_close",
                                        "frames_went_back"), clock=clock)
        self._fit = CounterClock(cfg.nominal_rate)
        self._axes = np.asarray(cfg.head_axes, dtype=np.float64)
        self._offset = np.asarray(cfg.incisal_offset_mm, dtype=np.float64)
        self._icp = np.asarray(cfg.icp_mm if cfg.icp_mm is not None else (0.0, 0.0, 0.0), dtype=np.float64)
        self._last_frame: int | None = None
        self._seq_offset = 0
        self._last_seq: int | None = None
        self._last_t: float | None = None
        self._head = self._jaw = -1
        self._closed = False
        self._log = get_logger("aurora.source")

    # -- Source protocol -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def streams(self) -> Sequence[StreamSpec]:
        return self._streams

    @property
    def icp_mm(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in self._icp)  # type: ignore[return-value]

    def set_icp(self, point_mm: Sequence[float], *, source: str = "operator") -> None:
        """Change the ICP reference (head-frame incisal point, mm); recorded as an event."""
        p = np.asarray(point_mm, dtype=np.float64)
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            raise ValueError(f"ICP must be 3 finite numbers (mm), got {point_mm!r}")
        self._icp = p
        self._event("qc", "icp.set", icp_mm=[float(v) for v in p], source=source)

    def open(self) -> None:
        path = find_port(self.cfg)
        poller = TxPoller(path, self.cfg, name=f"{self._name}-poll")
        info = poller.start()
        try:
            self._check_identity(info.model, info.serial)
            self._head, self._jaw = self._assign_tools(info.tools)
        except SourceError:
            poller.stop()
            raise
        self._poller = poller
        ident = DeviceIdentity(
            model=f"NDI {info.model}",
            serial=info.serial,
            firmware=f"{info.firmware} (API {info.api_revision})",
            vendor="Northern Digital Inc.",
            simulated=self.cfg.simulated,
            transport=transport_label("serial", path),
        )
        rate = self.cfg.nominal_rate
        self._streams = (
            StreamSpec(name="jaw_incisal", kind="jaw", channels=INCISAL_CHANNELS, units=("mm", "mm", "mm"), dtype="float32",
                       nominal_rate=rate, device=ident,
                       scale_source="incisal point p = T_head^-1 T_jaw offset, head axes, minus ICP (drivers/jaw/aurora/geometry.py)"),
            StreamSpec(name="jaw_tools", kind="jaw_pose", channels=TOOL_CHANNELS, units=_TOOL_UNITS * 2 + ("1", "bits"),
                       dtype="int64", nominal_rate=rate, scale=_TOOL_SCALE * 2 + (1.0, 1.0), raw_units="ndi_ascii_int",
                       device=ident, scale_source=SCALE_SOURCE),
        )
        tools = {f"{h:02X}": {"serial": t.serial, "type": t.tool_type, "revision": t.revision} for h, t in info.tools.items()}
        self._event("device", "device.opened", model=info.model, serial=info.serial, firmware=info.firmware,
                    api_revision=info.api_revision, path=port_label(path), tools=tools, head_handle=self._head, jaw_handle=self._jaw)
        if self.cfg.icp_mm is None:
            self._event("qc", "icp.unset", detail="no ICP configured: jaw_incisal is relative to the head-frame origin until set_icp()")

    def read(self, timeout: float) -> Sequence[Chunk]:
        p = self._poller
        if p is None or self._closed:
            raise SourceError("aurora source read before open() or after close()")
        if p.alive:
            p.wait(max(0.0, timeout))
            items = p.take()
        else:
            items = p.take()
            if not items:
                raise SourceError(f"aurora source {self._name}: the TX polling process is not running "
                                  f"(exit code {p.exitcode})")
        return self._process(items)

    def drain_events(self) -> Sequence[Event]:
        return self._rep.drain_events()

    def counters(self) -> Mapping[str, int]:
        c = self._rep.counters()
        c.update(self._poller.counters if self._poller is not None else dict.fromkeys(WIRE_COUNTERS, 0))
        c["duplicates"] += c["duplicates_dropped"]  # repeats dropped in the polling process + any seen here
        return c

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        p = self._poller
        if p is not None:
            if not p.stop():
                self._event("device", "poller.killed", detail="the TX polling process did not end within 3 s (no TSTOP sent)")
            self._discard(p.take())
            self._event("device", "device.closed")

    # -- internals -------------------------------------------------------------------------------
    def _event(self, kind: EventKind, name: str, *, count: str | None = None, n: int = 1, **payload: Any) -> None:
        stream = "jaw_tools" if kind == "device" else ""
        level = "info" if name in _INFO_EVENTS else "warning"
        self._rep.event(name, kind=kind, stream=stream, level=level, count=count, n=n, **payload)

    def _note(self, name: str, payload: Mapping[str, Any]) -> None:
        if "path" in payload:  # the record keeps the device's name, not the exam room's path
            payload = {**payload, "path": port_label(str(payload["path"]))}
        self._event("device", name, count="disconnects" if name == "link.disconnected" else None, **payload)

    def _process(self, items: Sequence[PollItem]) -> list[Chunk]:
        """Items in the order the poller produced them: replies are converted with the state of their device
        session, a Reinit closes the batch before it."""
        chunks: list[Chunk] = []
        batch: list[tuple[TxReply, float]] = []
        for it in items:
            if isinstance(it, Reply):
                batch.append((it.reply, it.t_read))
            elif isinstance(it, Note):
                self._note(it.name, it.payload)
            elif isinstance(it, Reinit):
                chunks += self._to_chunks(batch)
                batch = []
                self._on_reinit(it)
        chunks += self._to_chunks(batch)
        return chunks

    def _discard(self, items: Sequence[PollItem]) -> None:
        """At close: notes become events; frames polled after the last read() are counted, not kept silently."""
        last = self._last_frame
        new: set[int] = set()
        for it in items:
            if isinstance(it, Note):
                self._note(it.name, it.payload)
            elif isinstance(it, Reinit):
                last = None
            elif isinstance(it, Reply):
                f = it.reply.frame
                if f is not None and (last is None or f > last):
                    new.add(f)
        if new:
            self._event("device", "frame.unread_at_close", count="unread_at_close", n=len(new), samples=len(new),
                        detail="frames polled after the last read() before close(): not recorded")

    def _check_identity(self, model: str, serial: str) -> None:
        want_m, want_s = self.cfg.expected_model, self.cfg.expected_serial
        if (want_m and want_m.lower() not in model.lower()) or (want_s and want_s != serial):
            raise SourceError(
                f"wrong NDI device: expected {want_m or 'any model'} serial {want_s or 'any'}, found {model} serial {serial}"
            )

    def _assign_tools(self, tools: Mapping[int, Any]) -> tuple[int, int]:
        if self.cfg.head_tool_serial is not None:
            by_serial = {t.serial: h for h, t in tools.items()}
            missing = [s for s in (self.cfg.head_tool_serial, self.cfg.jaw_tool_serial) if s not in by_serial]
            if missing:
                raise SourceError(f"NDI tracker: tool serial(s) {missing} not plugged; found tools {sorted(by_serial)}")
            return by_serial[self.cfg.head_tool_serial], by_serial[self.cfg.jaw_tool_serial]  # type: ignore[index]
        handles = sorted(tools)
        if len(handles) < 2:
            raise SourceError(f"NDI tracker: need 2 enabled tools (head reference + mandible), found {len(handles)}")
        return handles[0], handles[1]

    def _on_reinit(self, r: Reinit) -> None:
        self._rep.count("reconnects")
        self._fit.reset()
        self._last_frame = None  # next frame re-anchors the sequence (see _to_chunks)
        if self.cfg.head_tool_serial is not None:
            try:
                self._head, self._jaw = self._assign_tools(r.info.tools)
            except SourceError as exc:
                self._event("device", "device.tools_changed", detail=str(exc))

    def _to_chunks(self, replies: list[tuple[TxReply, float]]) -> list[Chunk]:
        rate = self.cfg.nominal_rate
        rows: list[list[int]] = []
        seqs: list[int] = []
        reads: list[float] = []
        for rep, t_read in replies:
            frame = rep.frame
            if frame is None:
                self._rep.count("unsequenced")
                continue
            if self._last_frame is None:
                if self._last_seq is not None and self._last_t is not None:
                    # after a reconnect: count the outage as lost samples at the nominal rate
                    first, lost = continue_after_outage(self._last_seq, self._last_t, t_read, rate)
                    self._seq_offset = first - frame
                    if lost:
                        self._gap(lost, reason="reconnect")
                else:
                    self._seq_offset = -frame
            else:
                if frame <= self._last_frame:
                    # not stored, always counted: replies in = frames + duplicates + frames_went_back + unsequenced
                    self._rep.count("duplicates", int(frame == self._last_frame))
                    if frame < self._last_frame:
                        self._event("device", "frame.went_back", count="frames_went_back", frame=frame,
                                    last=self._last_frame)
                    continue
                if frame > self._last_frame + 1:
                    self._gap(frame - self._last_frame - 1, reason="frame_jump", frame=frame)
            self._last_frame = frame
            seq = frame + self._seq_offset
            rows.append(self._tool_row(rep, frame))
            seqs.append(seq)
            reads.append(t_read)
            self._last_seq, self._last_t = seq, t_read
        if not rows:
            return []
        raw = np.asarray(rows, dtype=np.int64)
        seq_a = np.asarray(seqs, dtype=np.int64)
        t_read_a = np.asarray(reads)
        # one clock observation per read() batch: its least-delayed reply (the fit keeps the lower envelope)
        best = int(np.argmin(t_read_a - seq_a * self._fit.period))
        self._fit.update(int(seq_a[best]), float(t_read_a[best]))
        t_lsl = self._fit.times(seq_a)
        self._rep.count("frames", len(rows))
        return [
            Chunk.build("jaw_incisal", self._incisal(raw), seq_a, t_lsl, t_read_a),
            Chunk.build("jaw_tools", raw, seq_a, t_lsl, t_read_a),
        ]

    def _gap(self, lost: int, **payload: Any) -> None:
        self._rep.count("samples_lost", lost)
        self._event("device", "samples.missing", count="gaps", lost=lost,
                    estimated=payload.get("reason") == "reconnect", first_missing=(self._last_seq or 0) + 1, **payload)

    def _tool_row(self, rep: TxReply, frame: int) -> list[int]:
        row: list[int] = []
        for role, h in (("head", self._head), ("jaw", self._jaw)):
            t = rep.tool(h)
            if t is None:
                row.extend([0] * 8 + [0, STATE_CODES["absent"]])
            elif t.state == "ok":
                row.extend([*t.q, *t.t, t.error, t.port_status or 0, 0])  # type: ignore[misc]
            else:
                row.extend([0] * 8 + [t.port_status or 0, STATE_CODES[t.state]])
            if t is None or t.state != "ok":
                self._rep.count(f"missing_{role}")
        row.extend([frame, rep.system_status])
        return row

    def _incisal(self, raw: np.ndarray) -> np.ndarray:
        n = len(_TOOL_FIELDS)
        head, jaw = raw[:, :n].astype(np.float64), raw[:, n : 2 * n].astype(np.float64)
        p = incisal_point(head[:, 0:4] * 1e-4, head[:, 4:7] * 0.01, jaw[:, 0:4] * 1e-4, jaw[:, 4:7] * 0.01,
                          self._offset, axes=self._axes) - self._icp
        bad = (raw[:, n - 1] != 0) | (raw[:, 2 * n - 1] != 0)
        p[bad] = np.nan
        return p.astype(np.float32)
