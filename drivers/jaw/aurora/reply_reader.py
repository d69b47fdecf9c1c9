"""`ReplyReader`: splits the Aurora's byte stream into replies (CR-terminated ASCII, or binary BX by its
header) and checks each one's CRC, with exact byte accounting and a bounded resync (see the class)."""

from __future__ import annotations

import re
import struct

from drivers.jaw.aurora.bx import BX_HEADER
from drivers.jaw.aurora.codec import MAX_REPLY
from drivers.jaw.aurora.crc import crc16

_NON_PRINTABLE = re.compile(rb"[^\x20-\x7e\n]")

#: how a reply can begin (OKAY, RESET, ERRORxx, UNOCCUPIED, or a 2-hex-digit count under 16 then a handle or
#: status: TX, PHSR, PHINF); a resync is tried only where one of these begins
_REPLY_START = re.compile(rb"OKAY|RESET|ERROR[0-9A-F]{2}|UNOCCUPIED|0[0-9A-F]{3}")


def _printable(b: bytes) -> bool:
    """A reply holds only printable ASCII and LF."""
    return _NON_PRINTABLE.search(b) is None


_WAIT = object()
_SKIPPED = object()


class ReplyReader:
    """Splits the byte stream into CR-terminated replies and checks each one's CRC.

    `feed(bytes)` returns the good reply texts (CRC removed). Everything else is counted, never raised:
    `crc_errors` (CRC mismatch), `malformed` (too short / non-ASCII), `overflow` (no CR within MAX_REPLY bytes),
    `garbage_bytes` (bytes discarded), `resyncs` (a good reply recovered after leading garbage), `resync_tries`
    (suffix CRC checks made for it), `unterminated` (a partial reply discarded by `reset`). Each problem but the
    last is also queued as (kind, detail) for `take_faults()`.

    Resync is bounded. Why: every suffix CRC-checked is a 1 in 65536 chance of taking a fragment for a reply;
    trying up to 64 suffixes of a damaged line made that 1 in 1000 (a TX reply hit in its first byte gave
    '100001234\n0B+07071...' as a good reply). A suffix is tried only where a reply can begin
    (`_REPLY_START`), within RESYNC_WINDOW bytes after the last byte no reply contains, at most RESYNC_MAX times
    per line: a chance match is then at most 4 in 65536 per damaged line, and garbage as it comes from a noisy
    line (a few bytes, not all printable) still gives the reply after it back.

    Accounting, exact at every call: bytes_in = bytes_decoded (good replies, their CRC and CR) + garbage_bytes +
    `pending_bytes` (awaiting a CR or the rest of a binary reply); lines (CR-terminated lines and binary replies
    ended) = replies + crc_errors + malformed.
    """

    RESYNC_WINDOW = 16
    RESYNC_MAX = 4

    def __init__(self) -> None:
        self._buf = bytearray()
        self.crc_errors = 0
        self.malformed = 0
        self.overflow = 0
        self.garbage_bytes = 0
        self.resyncs = 0
        self.resync_tries = 0
        self.unterminated = 0
        self.replies = 0
        self.lines = 0  # CR-terminated lines seen, good or bad: a reply (even a broken one) ended
        self.bytes_in = 0
        self.bytes_decoded = 0
        self._faults: list[tuple[str, str]] = []

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)

    def counters(self) -> dict[str, int]:
        return {
            "replies": self.replies, "lines": self.lines, "crc_errors": self.crc_errors, "malformed": self.malformed,
            "overflow": self.overflow, "garbage_bytes": self.garbage_bytes, "resyncs": self.resyncs,
            "resync_tries": self.resync_tries, "unterminated": self.unterminated, "bytes_in": self.bytes_in,
            "bytes_decoded": self.bytes_decoded,
        }

    def reset(self) -> None:
        """Forget partial input (after a reconnect or a break, before a command): counted as garbage."""
        if self._buf:
            self.garbage_bytes += len(self._buf)
            self.unterminated += 1
        self._buf.clear()

    def take_faults(self) -> list[tuple[str, str]]:
        out, self._faults = self._faults, []
        return out

    def feed(self, data: bytes) -> list[str | bytes]:
        """Good replies in order: `str` for an ASCII reply (CRC removed), `bytes` for a binary (BX) reply body."""
        out: list[str | bytes] = []
        buf = self._buf
        buf.extend(data)
        self.bytes_in += len(data)
        while True:
            b = self._binary(buf)
            if b is _WAIT:
                break
            if b is not None:
                if b is not _SKIPPED:
                    out.append(b)  # type: ignore[arg-type]
                continue
            i = buf.find(b"\r")
            if i < 0:
                if len(buf) > MAX_REPLY:
                    self.overflow += 1
                    self.garbage_bytes += len(buf)
                    self._faults.append(("frame.overflow", f"{len(buf)} bytes without CR"))
                    buf.clear()
                break
            line = bytes(buf[:i])
            del buf[: i + 1]
            self.lines += 1
            text = self._check(line)
            if text is not None:
                self.replies += 1
                out.append(text)
        return out

    @staticmethod
    def _header_ok(buf: bytearray, j: int) -> bool:
        """A true BX header at `j` (all 6 bytes present): its CRC holds and its length is possible. C4 A5 alone is
        not enough: binary bodies hold those two bytes about once in 750 replies."""
        length, hcrc = struct.unpack_from("<HH", buf, j + 2)
        return length <= MAX_REPLY and crc16(bytes(buf[j : j + 4])) == hcrc

    def _binary(self, buf: bytearray) -> object:
        """A binary reply at the head of `buf` (bytes: its body), `_WAIT` for more bytes, `_SKIPPED` when bytes
        were consumed without a reply, or None when the head is not a binary reply (the ASCII path goes on).

        The first *true* header counts (see `_header_ok`): a false start is passed over, so the bytes before a
        true header are garbage on the line, never an ASCII line that would swallow the replies behind it."""
        cr = buf.find(b"\r")
        j = buf.find(BX_HEADER)
        while j >= 0:
            if 0 <= cr < j:
                return None  # an ASCII line ends first
            if len(buf) < j + 6:
                return _WAIT if j == 0 or cr < 0 else None
            if self._header_ok(buf, j):
                break
            j = buf.find(BX_HEADER, j + 1)
        if j < 0:
            return None
        if j > 0:  # bytes before a true header: garbage on the line
            self.garbage_bytes += j
            self.resyncs += 1
            self._faults.append(("stream.resynced", f"{j} garbage bytes before a BX reply"))
            del buf[:j]
        (length,) = struct.unpack_from("<H", buf, 2)
        total = 6 + length + 2
        if len(buf) < total:
            return _WAIT
        body = bytes(buf[6 : 6 + length])
        (bcrc,) = struct.unpack_from("<H", buf, 6 + length)
        self.lines += 1
        if crc16(body) == bcrc:
            self.replies += 1
            self.bytes_decoded += total
            del buf[:total]
            return body
        # damaged (or cut short and run into the next reply): drop up to the next true header inside it
        cut = total
        nxt = buf.find(BX_HEADER, 2, total)
        while nxt > 0:
            if len(buf) < nxt + 6 or self._header_ok(buf, nxt):
                cut = nxt
                break
            nxt = buf.find(BX_HEADER, nxt + 1, total)
        self.crc_errors += 1
        self.garbage_bytes += cut
        self._faults.append(("frame.crc_failed", f"BX body CRC {bcrc:04X} != {crc16(body):04X}"))
        del buf[:cut]
        return _SKIPPED

    def _check(self, line: bytes) -> str | None:
        if len(line) < 5:
            self.malformed += 1
            self.garbage_bytes += len(line) + 1
            self._faults.append(("frame.malformed", f"{len(line)}-byte line: {line[:40]!r}"))
            return None
        body, tail = line[:-4], line[-4:]
        want = int(tail.decode("ascii"), 16) if all(c in b"0123456789ABCDEFabcdef" for c in tail) else -1
        if want >= 0 and crc16(body) == want and _printable(body):
            self.bytes_decoded += len(line) + 1
            return body.decode("ascii")
        if want >= 0:
            s = self._resync(line, want)
            if s > 0:
                self.resyncs += 1
                self.garbage_bytes += s
                self.bytes_decoded += len(line) + 1 - s
                self._faults.append(("stream.resynced", f"{s} garbage bytes before a good reply"))
                return line[s:-4].decode("ascii")
        if want < 0 or not _printable(body):
            self.malformed += 1
            self._faults.append(("frame.malformed", f"bad CRC field or non-ASCII: {line[:40]!r}"))
        else:
            self.crc_errors += 1
            self._faults.append(("frame.crc_failed", f"CRC {tail.decode()} != {crc16(body):04X}"))
        self.garbage_bytes += len(line) + 1
        return None

    def _resync(self, line: bytes, want: int) -> int:
        """Offset of a good reply after leading garbage in `line` (CRC field `want`), or 0: see the class doc."""
        start = len(line) - 4
        while start > 0 and _printable(line[start - 1 : start]):
            start -= 1  # a reply never contains bytes outside 0x20-0x7E and LF: it starts after the last one
        start = max(start, 1)
        tries = 0
        for s in range(start, min(len(line) - 4, start + self.RESYNC_WINDOW)):
            if tries >= self.RESYNC_MAX:
                break
            if _REPLY_START.match(line, s) is None:
                continue
            tries += 1
            self.resync_tries += 1
            if crc16(line[s:-4]) == want:
                return s
        return 0
