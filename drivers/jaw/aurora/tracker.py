"""Wire-level engine of the NDI Combined API: reset, init sequence, identity, and the TX polling state machine.

`AuroraTracker` owns the reconnecting `SerialLink` and the `ReplyReader`. Commands during initialisation are
request/reply with a timeout; tracking is a non-blocking loop (send TX, collect whatever arrived, decode, send the
next TX at `poll_factor` x the device rate) so no frame is lost at 40 Hz. The tracker lives in a child process
(`drivers/jaw/aurora/poller.py`): TX returns only the device's latest frame, so a poll that comes more than one
frame period late loses a frame, and the loop must neither wait for the session's read() cadence nor for the
recorder's GIL. After an unplug the
link reopens the configured path by itself and the tracker re-runs the whole init sequence. Everything the loop
produces goes out, in order, through `emit`: `Reply` (decoded TX reply + host read time), `Note` (something went
wrong or changed; counted too) and `Reinit` (the device was re-initialised: replies after it are a new session).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from acquisition.lslenv import local_clock
from acquisition.log import get_logger
from acquisition.source import SourceError
from drivers.common.serial_link import SerialLink
from drivers.jaw.aurora import commands as cmds
from drivers.jaw.aurora.bx import parse_bx
from drivers.jaw.aurora.codec import ReplyFormatError, ToolInfo, TxReply, error_code, parse_phinf_basic, parse_phsr, parse_tx
from drivers.jaw.aurora.config import AuroraConfig
from drivers.jaw.aurora.reply_reader import ReplyReader
from drivers.jaw.aurora.errors import DeviceErrorReply, describe_error


class NoReply(TimeoutError):
    pass


@dataclass
class DeviceInfo:
    model: str = "unknown"
    serial: str = "unknown"
    firmware: str = "unknown"
    api_revision: str = "unknown"
    tools: dict[int, ToolInfo] = field(default_factory=dict)


class Reply(NamedTuple):
    reply: TxReply
    t_read: float


class Note(NamedTuple):
    name: str
    payload: dict[str, Any]


class Reinit(NamedTuple):
    info: DeviceInfo
    generation: int


PollItem = Reply | Note | Reinit


def parse_ver0(text: str) -> tuple[str, str]:
    """(model, serial) from a VER 0 reply: first line '<Model> Control Firmware', a line 'NDI S/N: <serial>'."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    model = "unknown"
    if lines:
        m = re.match(r"^(.*?)\s+Control Firmware", lines[0], re.IGNORECASE)
        model = (m.group(1) if m else lines[0]).strip() or "unknown"
    serial = "unknown"
    for ln in lines:
        m = re.search(r"S/N:\s*(\S+)", ln)
        if m:
            serial = m.group(1)
            break
    return model, serial


class AuroraTracker:
    def __init__(
        self,
        path: str,
        cfg: AuroraConfig,
        *,
        clock: Callable[[], float] = local_clock,
        sleep: Callable[[float], None] = time.sleep,
        emit: Callable[[PollItem], None] | None = None,
    ) -> None:
        self.path = path
        self.cfg = cfg
        self._clock = clock
        self._sleep = sleep
        self.link = SerialLink(path, baudrate=cmds.RESET_BAUD, clock=clock, sleep=sleep)
        self.reader = ReplyReader()
        self.info = DeviceInfo()
        self.handles: list[int] = []
        self.tracking = False
        self.pending: list[PollItem] = []
        #: where the tracking loop's output goes, in order (the polling process sends it down its pipe)
        self.emit: Callable[[PollItem], None] = emit if emit is not None else self.pending.append
        self.counters = {"tx_sent": 0, "reply_timeouts": 0, "device_errors": 0, "decode_errors": 0, "reinits": 0, "reinit_failures": 0,
                         "late_replies": 0}
        self._awaiting = False
        self._sent_at = 0.0
        self._next_poll = 0.0
        self._gen_ready = 0
        self._next_reinit = 0.0
        self._log = get_logger("aurora", path=path)
        #: the tracking poll: TX (ASCII) or BX (binary, about a third of the bytes), option 0001 either way
        self._poll_bytes = f"{cfg.poll_command} 0001\r".encode("ascii")

    @property
    def poll_interval(self) -> float:
        return 1.0 / (self.cfg.nominal_rate * self.cfg.poll_factor)

    def note(self, name: str, **payload: Any) -> None:
        self.emit(Note(name, payload))

    # -- request/reply ---------------------------------------------------------------------------
    def _collect(self, deadline: float) -> str:
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise NoReply("no reply")
            data = self.link.read(min(remaining, 0.05))
            if not self.link.connected:
                raise NoReply("link lost")
            for text in self.reader.feed(data):
                if isinstance(text, bytes):
                    raise ReplyFormatError(f"expected an ASCII reply, got a {len(text)}-byte binary reply")
                return text

    def transact(self, name: str, params: str = "", *, timeout: float | None = None) -> str:
        """Send one command, return its reply text; DeviceErrorReply on ERRORxx, NoReply on timeout."""
        self.reader.reset()
        self.link.reset_input()
        if not self.link.write(cmds.build(name, params)):
            raise NoReply("write failed: link lost")
        text = self._collect(self._clock() + (timeout or self.cfg.command_timeout_s))
        code = error_code(text)
        if code is not None:
            self.counters["device_errors"] += 1
            raise DeviceErrorReply(f"{name} {params}".strip(), code)
        return text

    def _expect_okay(self, name: str, params: str = "") -> None:
        text = self.transact(name, params)
        if text != "OKAY":
            raise ReplyFormatError(f"{name} {params}: expected OKAY, got {text[:40]!r}")

    def reset(self) -> bool:
        """Serial break at 9600 baud; True if the device answered RESET."""
        self.link.set_baudrate(cmds.RESET_BAUD)
        self.link.reset_input()
        self.reader.reset()
        # A NUL byte first: harmless to a device about to be reset by the break, and how a break reads on a tty
        # (the only form a pseudo-terminal can carry to a simulator).
        self.link.write(b"\x00")
        self.link.send_break(0.25)
        try:
            text = self._collect(self._clock() + self.cfg.reset_timeout_s)
        except NoReply:
            return False
        return text == "RESET"

    def initialize(self) -> DeviceInfo:
        """reset -> INIT -> COMM -> VER/APIREV -> PHSR/PINIT/PENA -> PHINF -> TSTART. Raises SourceError."""
        self.tracking = False
        try:
            if not self.reset():
                # the break did not get through: the device may still be listening at our rate or at 9600
                for baud in (self.cfg.baudrate, cmds.RESET_BAUD):
                    self.link.set_baudrate(baud)
                    try:
                        self.transact("INIT", timeout=0.5)
                        break
                    except (NoReply, DeviceErrorReply):
                        continue
                else:
                    raise SourceError(
                        f"no NDI tracker answered on {self.path}: expected 'RESET' after a serial break or 'OKAY' to INIT"
                    )
            self._expect_okay("INIT")
            if self.cfg.baudrate != cmds.RESET_BAUD:
                self._expect_okay("COMM", cmds.comm_params(self.cfg.baudrate))
                self._sleep(0.02)
                self.link.set_baudrate(self.cfg.baudrate)
            info = DeviceInfo()
            info.model, info.serial = parse_ver0(self.transact("VER", "0"))
            info.firmware = self.transact("VER", "4").strip() or "unknown"
            info.api_revision = self.transact("APIREV").strip() or "unknown"
            for h, _ in parse_phsr(self.transact("PHSR", "02")):
                self._expect_okay("PINIT", f"{h:02X}")
            for h, _ in parse_phsr(self.transact("PHSR", "03")):
                self._expect_okay("PENA", f"{h:02X}D")
            handles = [h for h, _ in parse_phsr(self.transact("PHSR", "04"))]
            for h in handles:
                info.tools[h] = parse_phinf_basic(self.transact("PHINF", f"{h:02X}0001"))
            self._expect_okay("TSTART")
        except (NoReply, DeviceErrorReply, ReplyFormatError) as exc:
            raise SourceError(f"NDI tracker on {self.path}: initialisation failed: {exc}") from None
        self.info = info
        self.handles = sorted(handles)
        self.tracking = True
        self._awaiting = False
        self._next_poll = self._clock()
        self._gen_ready = self.link.generation
        self.reader.reset()
        return info

    def open(self) -> DeviceInfo:
        self.link.open()
        return self.initialize()

    def close(self) -> None:
        if self.link.connected and self.tracking:
            try:
                self.reader.reset()
                self.transact("TSTOP", timeout=0.5)
            except (NoReply, DeviceErrorReply, SourceError):
                pass
        self.tracking = False
        self.link.close()

    # -- tracking loop ---------------------------------------------------------------------------
    def poll(self, deadline: float, stop: Callable[[], bool] | None = None) -> int:
        """Poll TX until `deadline` (or until `stop()` is true); emit what comes in. Returns the replies decoded."""
        out = 0
        while True:
            now = self._clock()
            for kind, detail in self.link.take_transitions():
                self.note(f"link.{kind}", detail=detail, path=self.path)
                if kind == "disconnected":
                    self.tracking = False
            if self.link.connected and self.link.generation != self._gen_ready and now >= self._next_reinit:
                self._reinit()
                now = self._clock()
            if now >= deadline or (stop is not None and stop()):
                return out
            if not self.link.connected or not self.tracking:
                self.link.read(min(deadline - now, 0.05))  # retries the reopen while the device is gone
                continue
            if self._awaiting and now - self._sent_at > self.cfg.reply_timeout_s:
                self.counters["reply_timeouts"] += 1
                self.note("reply.timeout", waited_s=round(now - self._sent_at, 3))
                self._awaiting = False
            if not self._awaiting and now >= self._next_poll:
                if self.link.write(self._poll_bytes):
                    self.counters["tx_sent"] += 1
                    self._awaiting = True
                    self._sent_at = now
                self._next_poll = max(self._next_poll + self.poll_interval, now)
            wait = min(deadline, self._next_poll if not self._awaiting else self._sent_at + self.cfg.reply_timeout_s) - now
            data = self.link.read(max(0.0, min(wait, 0.05)))
            if not data:
                continue
            t_read = self._clock()
            lines_before = self.reader.lines
            replies = self.reader.feed(data)
            if self.reader.lines != lines_before:
                if self._awaiting and t_read - self._sent_at > 0.5 / self.cfg.nominal_rate:
                    # the device took over half a frame period to answer: a frame may be lost on its side
                    self.counters["late_replies"] += 1
                self._awaiting = False  # the reply ended (a CR arrived), good or bad: poll again on schedule
            for text in replies:
                self._awaiting = False
                if isinstance(text, bytes):
                    try:
                        self.emit(Reply(parse_bx(text), t_read))
                        out += 1
                    except ReplyFormatError as exc:
                        self.counters["decode_errors"] += 1
                        self.note("reply.decode_failed", detail=str(exc)[:200])
                    continue
                code = error_code(text)
                if code is not None:
                    self.counters["device_errors"] += 1
                    self.note("device.error_reply", code=code, message=describe_error(code))
                    continue
                try:
                    self.emit(Reply(parse_tx(text), t_read))
                    out += 1
                except ReplyFormatError as exc:
                    self.counters["decode_errors"] += 1
                    self.note("reply.decode_failed", detail=str(exc)[:200])
            for kind, detail in self.reader.take_faults():
                self.note(kind, detail=detail)

    def _reinit(self) -> None:
        t0 = self._clock()
        try:
            self.initialize()
        except SourceError as exc:
            self.counters["reinit_failures"] += 1
            self._next_reinit = self._clock() + 0.2
            self.note("device.reinit_failed", detail=str(exc))
            return
        self.counters["reinits"] += 1
        self.note("device.reinitialised", took_s=round(self._clock() - t0, 3), generation=self.link.generation)
        self.emit(Reinit(self.info, self.link.generation))
