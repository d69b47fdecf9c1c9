"""`BitalinoEmgSource`: two (or more) BITalino boards as one Source, one stream per board.

Why one stream per board and not one merged 8-channel stream: each board has its own crystal, its own 4-bit
frame counter and its own serial line, so their samples are not simultaneous; merging would need resampling
one board onto the other's clock, which invents data. Each stream ("emg_a", "emg_b") carries its own
device_seq and its own counter->LSL-time fit; the channel labels (muscle + side) come from the configuration,
and analysis aligns the two on the common LSL clock.

One reader thread per board blocks on its own port, so each batch of bytes gets an accurate host read time
(`t_read`); the counter->time fit (`CounterClock`) gives `t_lsl`. Faults become events and counters; an unplug
is followed by automatic re-initialisation when the path comes back, with the lost span estimated from time.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from acquisition.chunk import Chunk
from acquisition.clock import CounterClock
from acquisition.events import Event
from acquisition.lslenv import local_clock
from acquisition.log import get_logger
from acquisition.source import SourceError
from acquisition.stream import DeviceIdentity, StreamSpec
from drivers.common.port_label import port_label, transport_label
from drivers.common.reporter import Reporter
from drivers.common.sequence import continue_after_outage
from drivers.emg.bitalino.board import BitalinoBoard, BoardReplyError, identify
from drivers.emg.bitalino.codec import Decoded
from drivers.emg.bitalino.config import BitalinoConfig, BoardConfig
from drivers.emg.bitalino.discovery import find_port
from drivers.emg.bitalino.transfer import SOURCE as SCALE_SOURCE
from drivers.emg.bitalino.transfer import offset_uv, scale_uv
from drivers.emg.labels import EMG_UNIT

MODEL = "BITalino (r)evolution"
_INFO_EVENTS = frozenset({"device.identified", "link.reconnected", "stream.resumed", "board.restarted"})
CLOCK_UPDATE_S = 0.025


class _BoardRunner:
    """Reader thread of one board: bytes -> frames -> chunks, faults -> events, unplug -> re-init.

    Stopped by a `threading.Event` (its waits wake at once) and joined by `stop()`, which says whether the thread
    ended: the owner closes the board's port only then, never under a thread still reading it.
    """

    #: how long `stop()` waits for the thread (a read blocks at most ~0.05 s; a stuck driver call much longer)
    STOP_JOIN_S = 2.0

    def __init__(
        self,
        cfg: BoardConfig,
        source_cfg: BitalinoConfig,
        board: BitalinoBoard,
        spec: StreamSpec,
        out: "queue.Queue[Chunk]",
        emit: Callable[..., None],
        clock: Callable[[], float],
    ) -> None:
        self.cfg = cfg
        self.source_cfg = source_cfg
        self.board = board
        self.spec = spec
        self.out = out
        self.emit = emit
        self.clock_fn = clock
        self.fit = CounterClock(float(source_cfg.rate))
        self.period = 1.0 / source_cfg.rate
        self.counts: dict[str, int] = {
            "disconnects": 0,
            "reconnects": 0,
            "stalls": 0,
            "restarts": 0,
            "reconnect_gaps": 0,
            "reconnect_samples_lost": 0,
            "stop_timeouts": 0,
        }
        self._gen = board.link.generation
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_seq: int | None = None
        self._last_t: float | None = None  # fitted time of the last sample
        self._rebase = False
        self._last_bytes_t = clock()
        self._stalled = False
        self._needs_init = False
        self._next_init_try = 0.0
        self._cand: tuple[float, int, float] | None = None  # (residual, seq, t) best observation pending
        self._cand_since = 0.0
        self._last_poll = 0.0
        self._rebased_now = False
        self.log = get_logger("bitalino", stream=spec.name, path=board.path)

    def start(self) -> None:
        self._last_bytes_t = self.clock_fn()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"bitalino:{self.spec.name}", daemon=True)
        self._thread.start()

    def stop(self) -> bool:
        """Ask the thread to end and join it; True when it has ended (or never ran). False: it is still alive
        (blocked in a call that ignores the stop), and the handle is kept so a later `stop()` can join it."""
        self._stop.set()
        t = self._thread
        if t is not None:
            t.join(timeout=self.STOP_JOIN_S)
            if t.is_alive():
                return False
            self._thread = None
        return True

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- loop -----------------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._poll_once()
            except Exception as exc:  # noqa: BLE001 - a reader thread must report, never die silently
                self.emit("reader.failed", self.spec.name, {"error": repr(exc)})
                self._needs_init = True
                self._next_init_try = self.clock_fn() + 0.5

    def _poll_once(self) -> None:
        """One pass of the reader loop: wait for the next read slot, read, account link changes, decode."""
        board = self.board
        wait = self._last_poll + self.source_cfg.read_interval_s - self.clock_fn()
        if wait > 0 and self._stop.wait(wait):
            return
        data, t = board.poll(0.05)
        self._last_poll = t
        for kind, detail in board.link.take_transitions():
            if kind == "disconnected":
                self.counts["disconnects"] += 1
                self.emit("link.disconnected", self.spec.name, {"detail": detail, "last_seq": self._last_seq})
            else:
                self.counts["reconnects"] += 1
                self.emit("link.reconnected", self.spec.name, {"detail": detail})
        if board.link.generation != self._gen and board.link.connected:
            self._gen = board.link.generation
            self._needs_init = True
            self._next_init_try = 0.0
        if self._needs_init:
            if board.link.connected and t >= self._next_init_try:
                self._reinit("reconnect")
            return
        if data:
            self._last_bytes_t = t
            if self._stalled:
                self._stalled = False
                self.emit("stream.resumed", self.spec.name, {})
            self._handle(board.decoder.feed(data, t))
        elif board.link.connected and board.live:
            quiet = t - self._last_bytes_t
            if quiet > self.source_cfg.stall_s and not self._stalled:
                self._stalled = True
                self.counts["stalls"] += 1
                self.emit("stream.stalled", self.spec.name, {"quiet_s": quiet})
            if quiet > self.source_cfg.restart_after_s:
                self.counts["restarts"] += 1
                self._reinit("stall")

    def _reinit(self, why: str) -> None:
        board = self.board
        try:
            identify(board, min_major=self.source_cfg.min_firmware_major)
            board.start(next_seq=(self._last_seq + 1) if self._last_seq is not None else 0)
        except (SourceError, BoardReplyError) as exc:
            self.emit("device.reinit_failed", self.spec.name, {"why": why, "error": str(exc)})
            self._next_init_try = self.clock_fn() + 0.3
            self._needs_init = True
            return
        self._needs_init = False
        self._stalled = False
        self._last_bytes_t = self.clock_fn()
        self._rebase = self._last_seq is not None
        self.fit.reset()
        self._cand = None
        self.emit("board.restarted", self.spec.name, {"why": why, "version": board.version_info.text if board.version_info else ""})

    # -- frames -> chunk ------------------------------------------------------------------------------------
    def _handle(self, dec: Decoded) -> None:
        for ev in dec.events:
            self.emit(ev.name, self.spec.name, ev.detail)
        if dec.n == 0:
            return
        seq, t_arr = dec.seq, dec.t_arrival
        if self._rebase:
            self._rebase = False
            self._rebased_now = True
            assert self._last_seq is not None and self._last_t is not None
            # first frame after the restart was emitted at most a little before it was read
            # emission of the first frame: lower envelope of the batch's arrivals, stepped back by the period
            t_first = float(np.min(t_arr - (seq - seq[0]) * self.period))
            first, lost = continue_after_outage(self._last_seq, self._last_t, t_first, float(self.source_cfg.rate))
            delta = first - int(seq[0])
            if delta:
                seq = seq + delta
                self.board.decoder.shift(delta)
            if lost > 0:
                self.counts["reconnect_gaps"] += 1
                self.counts["reconnect_samples_lost"] += lost
                self.emit("samples.missing", self.spec.name, {"lost": lost, "estimated": True,
                                                              "first_missing": self._last_seq + 1, "reason": "restart"})
        self._observe(seq, t_arr)
        t_lsl = self.fit.times(seq)
        if self._last_t is not None and self._last_seq is not None and not self._rebased_now:
            # the fit may step back when it finds a less-delayed read: keep times strictly increasing
            floor = self._last_t + (seq - self._last_seq) * self.period * 0.999
            t_lsl = np.maximum(t_lsl, floor)
        self._rebased_now = False
        self._last_seq = int(seq[-1])
        self._last_t = float(t_lsl[-1])
        self.out.put(Chunk.build(self.spec.name, dec.analog, seq, t_lsl, t_arr))

    def _observe(self, seq: np.ndarray, t_arr: np.ndarray) -> None:
        """Feed the counter fit with the least-delayed observation of each ~25 ms (cheap at 1 kHz)."""
        r = t_arr - seq * self.period
        i = int(np.argmin(r))
        cand = (float(r[i]), int(seq[i]), float(t_arr[i]))
        if self._cand is None or cand[0] < self._cand[0]:
            self._cand = cand
        now = float(t_arr[-1])
        if not self.fit.fitted or now - self._cand_since >= CLOCK_UPDATE_S:
            _, s, t = self._cand
            self.fit.update(s, t)
            self._cand = None
            self._cand_since = now


class BitalinoEmgSource:
    """Source over the configured boards (normally two: 8 EMG channels as streams emg_a and emg_b)."""

    #: its payloads name ports by label (drivers/common/port_label.py) and streams by name, never a file:
    #: nothing to pseudonymise (acquisition.source.emits_pseudonymous_names)
    emits_pseudonymous_names = True

    def __init__(
        self,
        config: BitalinoConfig,
        *,
        clock: Callable[[], float] = local_clock,
        comports: Callable[[], Any] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._comports = comports
        self._queue: "queue.Queue[Chunk]" = queue.Queue()
        self._rep = Reporter("bitalino", clock=clock)
        self._runners: list[_BoardRunner] = []
        self._stuck: list[_BoardRunner] = []  # readers that did not end at close(): their ports are left open
        self._specs: list[StreamSpec] = []
        self._final_counts: dict[str, int] = {}
        self.log = get_logger("bitalino")

    @property
    def name(self) -> str:
        return "bitalino"

    @property
    def streams(self) -> Sequence[StreamSpec]:
        return list(self._specs)

    def _emit(self, name: str, stream: str, payload: Mapping[str, Any]) -> None:
        level = "info" if name in _INFO_EVENTS else "warning"
        self._rep.event(name, stream=stream, level=level, **payload)

    def open(self) -> None:
        if self._runners:
            return
        config = self.config
        try:
            for cfg in config.boards:
                kw = {} if self._comports is None else {"comports": self._comports}
                path, usb_serial = find_port(cfg, **kw)
                board = BitalinoBoard(
                    path,
                    channels=cfg.channel_indices,
                    rate=config.rate,
                    reply_timeout_s=config.reply_timeout_s,
                    command_gap_s=config.command_gap_s,
                    clock=self._clock,
                )
                board.open()
                try:
                    info = identify(board, min_major=config.min_firmware_major)
                    state = board.state()
                    board.set_battery_threshold(cfg.battery_threshold)
                except (BoardReplyError, SourceError) as exc:
                    board.close()
                    raise SourceError(f"BITalino board {cfg.stream!r}: {exc}") from None
                serial = cfg.serial or usb_serial or os.path.basename(path)
                identity = DeviceIdentity(
                    model=MODEL,
                    serial=serial,
                    firmware=info.text,
                    vendor="PLUX",
                    simulated=config.simulated,
                    transport=transport_label("serial", path),
                )
                n = len(cfg.labels)
                spec = StreamSpec(
                    name=cfg.stream,
                    kind="emg",
                    channels=cfg.labels,
                    units=(EMG_UNIT,) * n,
                    dtype="uint16",
                    nominal_rate=float(config.rate),
                    scale=(scale_uv(),) * n,
                    offset=(offset_uv(),) * n,
                    raw_units="adc_code",
                    device=identity,
                    scale_source=SCALE_SOURCE,
                )
                self._emit(
                    "device.identified",
                    cfg.stream,
                    {"model": MODEL, "firmware": info.text, "serial": serial, "path": port_label(path), "battery_code": state.battery,
                     "inputs": dict(cfg.inputs), "simulated": config.simulated},
                )
                runner = _BoardRunner(cfg, config, board, spec, self._queue, self._emit, self._clock)
                self._runners.append(runner)
                self._specs.append(spec)
            for r in self._runners:
                r.board.start(next_seq=0)
                r.start()
        except BaseException:
            self.close()
            raise

    def read(self, timeout: float) -> Sequence[Chunk]:
        out: list[Chunk] = []
        try:
            out.append(self._queue.get(timeout=timeout))
        except queue.Empty:
            return out
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out

    def drain_events(self) -> Sequence[Event]:
        return self._rep.drain_events()

    def counters(self) -> Mapping[str, int]:
        if not self._runners:
            return dict(self._final_counts)
        total: dict[str, int] = {}
        for r in self._runners:
            per = dict(r.board.decoder.counters())
            per.update(r.counts)
            for k, v in per.items():
                total[f"{r.spec.name}.{k}"] = v
                total[k] = total.get(k, 0) + v
        total["samples_lost"] = total.get("samples_lost", 0) + total.get("reconnect_samples_lost", 0)
        total["gaps"] = total.get("gaps", 0) + total.get("reconnect_gaps", 0)
        return total

    def close(self) -> None:
        """Stop and join every reader, then close the ports of those that ended. A reader that does not end is
        reported (`reader.stop_timeout`, counter `stop_timeouts`) and its port left open: closing a port under a
        live reader hands its file descriptor number to whatever opens next. A later close() tries again."""
        stopped: list[_BoardRunner] = []
        for r in list(self._stuck):
            if r.stop():
                stopped.append(r)
                self._stuck.remove(r)
        for r in self._runners:
            if r.stop():
                stopped.append(r)
            else:
                r.counts["stop_timeouts"] += 1
                self._emit("reader.stop_timeout", r.spec.name,
                           {"detail": f"the reader thread did not end within {r.STOP_JOIN_S:g} s; port left open",
                            "path": port_label(r.board.path)})
                self._stuck.append(r)
        if self._runners:
            self._final_counts = dict(self.counters())
            # bytes cut by the close (a partial frame, or frames not yet confirmed): counted, not lost silently
            for r in self._runners:
                pending = r.board.decoder.unsettled_bytes
                self._final_counts[f"{r.spec.name}.bytes_pending_at_close"] = pending
                self._final_counts["bytes_pending_at_close"] = self._final_counts.get("bytes_pending_at_close", 0) + pending
        for r in stopped:
            try:
                r.board.close()
            except Exception as exc:  # noqa: BLE001 - closing a gone device
                self.log.warning("board.close_failed", error=repr(exc))
        self._runners = []
