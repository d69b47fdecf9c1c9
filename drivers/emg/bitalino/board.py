"""One BITalino (r)evolution board on a serial line: identify, configure, start/stop, read decoded frames."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from acquisition.lslenv import local_clock
from acquisition.source import SourceError
from drivers.common.serial_link import SerialLink
from drivers.emg.bitalino import commands as cmd
from drivers.emg.bitalino.codec import (
    STATE_LENGTH,
    BitalinoState,
    Decoded,
    FrameDecoder,
    VersionInfo,
    decode_state,
    extract_version,
    parse_version,
)

BAUDRATE = 115200


class BoardReplyError(RuntimeError):
    """The board did not answer a command as the protocol says (timeout or bad reply)."""


class BitalinoBoard:
    """Driver of one board over a `SerialLink` (which survives unplug/replug of the configured path)."""

    def __init__(
        self,
        path: str,
        *,
        channels: Sequence[int] = (0, 1, 2, 3),
        rate: int = 1000,
        reply_timeout_s: float = 1.0,
        command_gap_s: float = 0.02,
        clock: Callable[[], float] = local_clock,
        sleep: Callable[[float], None] = time.sleep,
        link: SerialLink | None = None,
    ) -> None:
        cmd.set_rate(rate)
        cmd.channel_mask(channels)
        self.path = path
        self.channels = tuple(channels)
        self.rate = rate
        self._timeout = reply_timeout_s
        self._gap = command_gap_s
        self._clock = clock
        self._sleep = sleep
        self.link = link or SerialLink(path, baudrate=BAUDRATE, clock=clock, sleep=sleep)
        self.decoder = FrameDecoder(len(self.channels))
        self.live = False
        self.version_info: VersionInfo | None = None

    # -- transport ------------------------------------------------------------------------------------------
    def open(self) -> None:
        self.link.open()

    def close(self) -> None:
        try:
            if self.live and self.link.connected:
                self.link.write(bytes((cmd.STOP,)))
        finally:
            self.live = False
            self.link.close()

    def send(self, *data: int | bytes) -> None:
        for d in data:
            raw = bytes((d,)) if isinstance(d, int) else d
            if not self.link.write(raw):
                raise BoardReplyError(f"BITalino at {self.path}: write failed (device gone)")
            if self._gap:
                self._sleep(self._gap)

    def _read_reply(self, done: Callable[[bytes], bool], what: str) -> bytes:
        buf = b""
        deadline = self._clock() + self._timeout
        while True:
            left = deadline - self._clock()
            if left <= 0:
                shown = buf[-40:].hex() if buf else "nothing"
                raise BoardReplyError(f"BITalino at {self.path}: no {what} reply within {self._timeout:.1f} s (got {shown})")
            chunk = self.link.read(min(left, 0.05))
            if not self.link.connected:
                raise BoardReplyError(f"BITalino at {self.path}: device gone while waiting for {what}")
            buf += chunk
            if done(buf):
                return buf

    # -- idle-mode commands -----------------------------------------------------------------------------
    def go_idle(self) -> None:
        """0xFF: idle from any mode (revolution); then drop whatever was streaming."""
        self.send(cmd.IDLE_ANY)
        self._sleep(max(self._gap, 0.02))
        self.link.reset_input()
        self.live = False

    def version(self) -> VersionInfo:
        self.send(cmd.VERSION)
        raw = self._read_reply(lambda b: extract_version(b)[0] is not None, "version")
        text, _ = extract_version(raw)
        info = parse_version(text or "")
        if info is None:
            raise BoardReplyError(f"BITalino at {self.path}: version reply {text!r} is not 'BITalino_vX.Y'")
        self.version_info = info
        return info

    def state(self) -> BitalinoState:
        """State query (0x0B, revolution only): 16 bytes with CRC4."""
        self.send(cmd.STATE)
        raw = self._read_reply(lambda b: len(b) >= STATE_LENGTH, "state")
        try:
            return decode_state(raw[:STATE_LENGTH])
        except ValueError as exc:
            raise BoardReplyError(f"BITalino at {self.path}: {exc}") from None

    def set_battery_threshold(self, value: int) -> None:
        self.send(cmd.battery_threshold(value))

    def trigger(self, o1: bool, o2: bool) -> None:
        self.send(cmd.trigger(o1, o2))

    def pwm(self, value: int) -> None:
        self.send(cmd.pwm(value))

    # -- acquisition ----------------------------------------------------------------------------------------
    def start(self, *, next_seq: int | None = None) -> None:
        """Set the rate and start live mode; the decoder numbers the new frames from `next_seq`."""
        self.decoder.restart(self.decoder.next_seq if next_seq is None else next_seq)
        self.send(cmd.set_rate(self.rate), cmd.start(self.channels))
        self.live = True

    def stop(self) -> Decoded:
        """Stop live mode; the frames still in flight are decoded (the version reply marks the end)."""
        self.send(cmd.STOP)
        self.live = False
        self.send(cmd.VERSION)
        raw = self._read_reply(lambda b: extract_version(b)[0] is not None, "version after stop")
        i = raw.find(b"BITalino")
        out = self.decoder.feed(raw[:i], self._clock(), final=True)
        self.decoder.flush()
        return out

    def poll(self, timeout: float) -> tuple[bytes, float]:
        """Bytes that arrived (waiting at most `timeout`) and the host time they were read."""
        data = self.link.read(timeout)
        return data, self._clock()


def identify(board: BitalinoBoard, *, min_major: int) -> VersionInfo:
    """Idle the board and read its version; a missing or wrong device is a SourceError naming both."""
    try:
        board.go_idle()
        info = board.version()
    except BoardReplyError as exc:
        raise SourceError(f"expected a BITalino (r)evolution at {board.path}: {exc}") from None
    if info.major < min_major:
        raise SourceError(
            f"expected a BITalino (r)evolution (firmware >= {min_major}.0) at {board.path}, found {info.text!r}"
        )
    return info
