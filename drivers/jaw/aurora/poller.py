"""`TxPoller`: the tracker (init + TX polling loop) in a child process of its own, its output handed over by a pipe.

Why: TX returns only the device's latest frame, so any poll that comes more than one frame period (25 ms at
40 Hz) after the previous one loses a frame. In the recorder process every wait of the polling loop (reply,
next poll time) ends with a GIL hand-over that costs up to the interpreter's switch interval (5 ms) per busy
Python thread, and a slow hand-over now and then makes a poll late. Measured with bench/aurora_load.py and one
busy Python thread: polling inline in read() lost 7-20 % of the frames, polling in a thread of the recorder
still 5-10 %. A process has its own interpreter and GIL: its loop only waits for the device.

The child owns the serial port: it runs `AuroraTracker.open()` (reset, init, identity), answers with the
`DeviceInfo`, then polls until told to stop, then sends TSTOP and closes the port. Everything the loop emits
(`Reply`, `Note`, `Reinit`) goes to the parent in order, with a snapshot of the wire counters after each poll
slice. A sender thread in the child writes the pipe, so a parent that reads late never stalls the polling.
Timestamps are taken in the child with the LSL clock, which every process of the machine shares.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from acquisition.lslenv import local_clock
from acquisition.source import SourceError
from drivers.jaw.aurora.config import AuroraConfig
from drivers.jaw.aurora.tracker import AuroraTracker, DeviceInfo, Note, PollItem, Reinit, Reply

#: one poll() call covers this long (then a counters snapshot goes out); the stop flag is checked inside the loop
_SLICE_S = 0.25
_END = "end"

#: bytes_in = bytes_decoded + bytes_skipped + bytes_pending (the reply reader's exact accounting); the names of
#: acquisition.events.CounterName where one means the same (a reply is the Aurora's frame), the poller's own beside
WIRE_COUNTERS = ("tx_sent", "reply_timeouts", "device_errors", "decode_errors", "reinits", "reinit_failures",
                 "crc_errors", "malformed_frames", "overflows", "bytes_skipped", "resyncs", "resync_tries",
                 "truncated_frames", "bytes_in", "bytes_decoded", "bytes_pending", "poller_errors",
                 "duplicates_dropped", "late_replies")


class _Outbox:
    """The child's side of the pipe: keeps the order, drops a reply repeating the frame of the previous one
    (polling at twice the frame rate makes every other reply a repeat; counted, not sent)."""

    def __init__(self) -> None:
        self.q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.last_frame: int | None = None
        self.duplicates = 0

    def put(self, item: Any) -> None:
        if isinstance(item, Reply):
            f = item.reply.frame
            if f is not None and f == self.last_frame:
                self.duplicates += 1
                return
            self.last_frame = f
        elif isinstance(item, Reinit):
            self.last_frame = None
        self.q.put(item)


def _snapshot(tr: AuroraTracker, errors: int, box: _Outbox) -> dict[str, int]:
    r = tr.reader
    c = dict(tr.counters)
    c.update(crc_errors=r.crc_errors, malformed_frames=r.malformed, overflows=r.overflow,
             bytes_skipped=r.garbage_bytes, resyncs=r.resyncs, resync_tries=r.resync_tries,
             truncated_frames=r.unterminated, bytes_in=r.bytes_in, bytes_decoded=r.bytes_decoded,
             bytes_pending=r.pending_bytes, poller_errors=errors, duplicates_dropped=box.duplicates)
    return c


def child_main(path: str, cfg_json: str, conn: Connection, stop: Any, *, parent_pid: int | None = None) -> None:
    """Entry point of the polling process. Ctrl-C / SIGTERM go to the recorder, which stops this child cleanly
    (TSTOP); if the recorder dies instead, the child notices (broken pipe, new parent pid) and ends."""
    if parent_pid is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    cfg = AuroraConfig.model_validate_json(cfg_json)
    box = _Outbox()
    out = box.q
    orphan = threading.Event()

    def stopped() -> bool:
        if parent_pid is not None and os.getppid() != parent_pid:
            orphan.set()
        return bool(stop.is_set()) or orphan.is_set()

    def send() -> None:
        while True:
            msg = out.get()
            try:
                conn.send(msg)
            except (OSError, ValueError):  # the parent is gone
                orphan.set()
                return
            if msg == _END:
                return

    sender = threading.Thread(target=send, name="aurora-pipe", daemon=True)
    sender.start()
    tracker = AuroraTracker(path, cfg, emit=box.put)
    try:
        info = tracker.open()
    except SourceError as exc:
        tracker.link.close()
        out.put(("open_failed", str(exc)))
        out.put(_END)
        sender.join(5.0)
        return
    out.put(("opened", info))
    errors = 0
    while not stopped():
        try:
            tracker.poll(local_clock() + _SLICE_S, stopped)
        except Exception as exc:  # noqa: BLE001 - the loop must outlive a bug; reported and counted
            errors += 1
            out.put(Note("poller.error", {"error": repr(exc)[:300]}))
            time.sleep(0.1)
        out.put(("counters", _snapshot(tracker, errors, box)))
    tracker.close()
    out.put(("counters", _snapshot(tracker, errors, box)))
    out.put(_END)
    sender.join(5.0)


class TxPoller:
    """`start()` spawns the child and returns the DeviceInfo of the initialised tracker (SourceError if it fails);
    `take()` returns the items produced since the last call; `stop()` ends the child (TSTOP, port closed)."""

    def __init__(self, path: str, cfg: AuroraConfig, *, name: str = "aurora-poll") -> None:
        self.path = path
        self.cfg = cfg
        ctx = mp.get_context("spawn")  # the recorder has threads: never fork it
        self._conn, child_conn = ctx.Pipe(duplex=False)
        self._stop = ctx.Event()
        self._proc = ctx.Process(target=child_main, args=(path, cfg.model_dump_json(), child_conn, self._stop),
                                 kwargs={"parent_pid": os.getpid()}, name=name, daemon=True)
        self._child_conn = child_conn
        self._closing = threading.Event()
        self._items: list[PollItem] = []
        self._ended = False
        self.counters: dict[str, int] = dict.fromkeys(WIRE_COUNTERS, 0)

    @property
    def alive(self) -> bool:
        return not self._ended and self._proc.is_alive()

    @property
    def exitcode(self) -> int | None:
        return self._proc.exitcode

    def start(self, timeout: float | None = None) -> DeviceInfo:
        self._proc.start()
        self._child_conn.close()  # the child holds its end: EOF here when it dies
        budget = timeout if timeout is not None else 20.0 + self.cfg.reset_timeout_s + 15 * self.cfg.command_timeout_s
        end = time.monotonic() + budget
        while time.monotonic() < end:
            if not self._conn.poll(min(0.2, max(0.0, end - time.monotonic()))):
                if not self._proc.is_alive():
                    break
                continue
            try:
                msg = self._conn.recv()
            except (EOFError, OSError):
                break
            if isinstance(msg, tuple) and msg and msg[0] == "opened":
                return msg[1]  # type: ignore[no-any-return]
            if isinstance(msg, tuple) and msg and msg[0] == "open_failed":
                self.stop()
                raise SourceError(msg[1])
            self._route(msg)
        self.stop()
        raise SourceError(f"NDI tracker on {self.path}: the polling process did not open the device "
                          f"(exit code {self._proc.exitcode}, waited {budget:.0f} s)")

    def wait(self, timeout: float) -> None:
        """Sleep up to `timeout`; returns early when the poller is being stopped."""
        if timeout > 0:
            self._closing.wait(timeout)

    def take(self) -> list[PollItem]:
        self._drain()
        out, self._items = self._items, []
        return out

    def stop(self, timeout: float = 3.0) -> bool:
        """Ask the child to stop, collect what it still sends, join it; False if it had to be killed."""
        self._closing.set()
        self._stop.set()
        end = time.monotonic() + timeout
        while not self._ended and time.monotonic() < end:
            if self._conn.poll(0.05):
                self._drain()
            elif not self._proc.is_alive():
                self._drain()
                break
        clean = True
        if self._proc.pid is not None:
            self._proc.join(max(0.1, end - time.monotonic()))
            if self._proc.is_alive():
                clean = False
                self._proc.kill()
                self._proc.join(1.0)
        self._ended = True
        return clean

    # -- internals -------------------------------------------------------------------------------
    def _drain(self) -> None:
        if self._ended and self._conn.closed:
            return
        try:
            while self._conn.poll(0):
                self._route(self._conn.recv())
        except (EOFError, OSError):
            self._ended = True

    def _route(self, msg: Any) -> None:
        if isinstance(msg, (Reply, Note, Reinit)):
            self._items.append(msg)
        elif msg == _END:
            self._ended = True
        elif isinstance(msg, tuple) and msg and msg[0] == "counters":
            self.counters.update(msg[1])
