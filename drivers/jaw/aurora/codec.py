"""Reply side of the Combined API: a streaming reader that splits replies on CR (ASCII) or by their header
(binary BX) and checks their CRC, and decoders for the replies the driver uses (TX and BX option 0001, PHSR,
PHINF option 0001, ERRORxx).

Formats (ndicapi `ndiTXHelper`, `ndiGetTXTransformf`, `ndiGetPHSR*`, `ndiPHINFHelper`; NDI Combined API guide):
- every reply: text, CRC-16 of the text as 4 hex digits, CR. Lines inside a reply are separated by LF.
- TX 0001: <n: 2 hex> then per handle: <handle: 2 hex> and either a transform
  Q0 Qx Qy Qz (sign + 5 digits each, x 1e-4), Tx Ty Tz (sign + 6 digits, x 0.01 mm), error (sign + 5 digits,
  x 1e-4) or the word MISSING or DISABLED (or UNOCCUPIED); then port status (8 hex) and frame number (8 hex)
  where present; LF. After the handles: system status (4 hex).
- PHSR: <n: 2 hex> then per handle <handle: 2 hex><status: 3 hex>.
- PHINF 0001: tool type (8), manufacturer id (12), tool revision (3), serial number (8), port status (2 hex).
- BX 0001 (binary, little-endian): header start 0xA5C4 (wire C4 A5), body length (u16), CRC-16 of those four
  bytes (u16); body: handle count (u8), per handle handle (u8), status (u8: 0x01 valid, 0x02 missing, 0x04
  disabled), for a valid one q0 qx qy qz tx ty tz error (float32), then unless disabled port status (u32) and
  frame number (u32); system status (u16); then CRC-16 of the body (u16). `parse_bx` gives the same `TxReply`
  as TX, its floats rounded to the TX resolution (q 1e-4, t 0.01 mm, error 1e-4 mm) so one stream layout holds
  both.
"""

from __future__ import annotations

import re
import struct
from typing import Literal

from pydantic import BaseModel, ConfigDict

from drivers.jaw.aurora.crc import crc16

MAX_REPLY = 4096

BX_START = 0xA5C4
BX_HEADER = b"\xc4\xa5"  # BX_START little-endian, as it comes off the wire
BX_VALID, BX_MISSING, BX_DISABLED = 0x01, 0x02, 0x04

ToolState = Literal["ok", "missing", "disabled"]

#: state codes stored in the jaw_tools stream
STATE_CODES: dict[str, int] = {"ok": 0, "missing": 1, "disabled": 2, "absent": 3}

#: TX port-status bits (NDI Combined API guide, TX reply option 0001 "port status")
PORT_STATUS_BITS: dict[int, str] = {
    0: "occupied",
    1: "switch_1_closed",
    2: "switch_2_closed",
    3: "switch_3_closed",
    4: "initialized",
    5: "enabled",
    6: "out_of_volume",
    7: "partially_out_of_volume",
    8: "sensor_coil_broken",  # Aurora; Polaris: algorithm limitation
}


class ReplyFormatError(ValueError):
    """A reply passed its CRC but does not have the documented layout."""


class ToolRecord(BaseModel):
    """One handle of a TX reply, raw protocol integers (q x1e-4, t x0.01 mm, error x1e-4)."""

    model_config = ConfigDict(frozen=True)

    handle: int
    state: ToolState
    q: tuple[int, int, int, int] | None = None
    t: tuple[int, int, int] | None = None
    error: int | None = None
    port_status: int | None = None
    frame: int | None = None


class TxReply(BaseModel):
    model_config = ConfigDict(frozen=True)

    tools: tuple[ToolRecord, ...]
    system_status: int

    def tool(self, handle: int) -> ToolRecord | None:
        for t in self.tools:
            if t.handle == handle:
                return t
        return None

    @property
    def frame(self) -> int | None:
        """Frame number of the reply: the largest frame number any handle reports (None if no handle has one)."""
        frames = [t.frame for t in self.tools if t.frame is not None]
        return max(frames) if frames else None


_HEX = set("0123456789ABCDEFabcdef")
_DIGITS = set("0123456789")


def _hex(s: str, what: str) -> int:
    if not s or not set(s) <= _HEX:
        raise ReplyFormatError(f"{what}: expected hex digits, got {s!r}")
    return int(s, 16)


def _signed(s: str, what: str) -> int:
    if len(s) < 2 or s[0] not in "+-" or not set(s[1:]) <= _DIGITS:
        raise ReplyFormatError(f"{what}: expected sign and digits, got {s!r}")
    v = int(s[1:])
    return -v if s[0] == "-" else v


def _status_and_frame(rest: str, handle: int, optional: bool) -> tuple[int | None, int | None]:
    if optional and rest == "":
        return None, None
    if len(rest) < 16:
        raise ReplyFormatError(f"handle {handle:02X}: port status + frame number need 16 hex chars, got {rest!r}")
    return _hex(rest[0:8], "port status"), _hex(rest[8:16], "frame number")


def parse_tx(text: str) -> TxReply:
    """Decode a TX reply (option 0001, CRC already removed)."""
    if len(text) < 6:
        raise ReplyFormatError(f"TX reply too short: {text!r}")
    n = _hex(text[:2], "TX handle count")
    parts = text[2:].split("\n")
    if len(parts) != n + 1:
        raise ReplyFormatError(f"TX reply announces {n} handles but has {len(parts) - 1} records")
    status_text = parts[-1]
    if len(status_text) != 4:
        raise ReplyFormatError(f"TX system status must be 4 hex chars, got {status_text!r}")
    system_status = _hex(status_text, "system status")
    tools = []
    for rec in parts[:-1]:
        if len(rec) < 3:
            raise ReplyFormatError(f"TX handle record too short: {rec!r}")
        handle = _hex(rec[:2], "handle")
        body = rec[2:]
        if body.startswith("UNOCCUPIED"):
            continue
        if body.startswith("MISSING"):
            ps, fr = _status_and_frame(body[7:], handle, optional=False)
            tools.append(ToolRecord(handle=handle, state="missing", port_status=ps, frame=fr))
            continue
        if body.startswith("DISABLED"):
            ps, fr = _status_and_frame(body[8:], handle, optional=True)
            tools.append(ToolRecord(handle=handle, state="disabled", port_status=ps, frame=fr))
            continue
        if len(body) < 51 + 16:
            raise ReplyFormatError(f"handle {handle:02X}: transform record too short ({len(body)} chars)")
        q = tuple(_signed(body[6 * i : 6 * i + 6], "quaternion") for i in range(4))
        t = tuple(_signed(body[24 + 7 * i : 31 + 7 * i], "translation") for i in range(3))
        err = _signed(body[45:51], "error")
        ps, fr = _status_and_frame(body[51:67], handle, optional=False)
        tools.append(ToolRecord(handle=handle, state="ok", q=q, t=t, error=err, port_status=ps, frame=fr))  # type: ignore[arg-type]
    return TxReply(tools=tuple(tools), system_status=system_status)


def parse_phsr(text: str) -> list[tuple[int, int]]:
    """PHSR reply -> [(handle, status)]."""
    if len(text) < 2:
        raise ReplyFormatError(f"PHSR reply too short: {text!r}")
    n = _hex(text[:2], "PHSR count")
    if len(text) != 2 + 5 * n:
        raise ReplyFormatError(f"PHSR reply announces {n} handles but is {len(text)} chars long")
    return [(_hex(text[2 + 5 * i : 4 + 5 * i], "handle"), _hex(text[4 + 5 * i : 7 + 5 * i], "handle status")) for i in range(n)]


class ToolInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    tool_type: str
    manufacturer: str
    revision: str
    serial: str
    port_status: int


def parse_phinf_basic(text: str) -> ToolInfo:
    """PHINF option 0001 reply -> ToolInfo."""
    if text.startswith("UNOCCUPIED"):
        raise ReplyFormatError("port handle is unoccupied (no tool plugged)")
    if len(text) < 33:
        raise ReplyFormatError(f"PHINF basic reply must be 33 chars, got {len(text)}")
    return ToolInfo(
        tool_type=text[0:8],
        manufacturer=text[8:20].strip(),
        revision=text[20:23],
        serial=text[23:31].strip(),
        port_status=_hex(text[31:33], "PHINF port status"),
    )


def parse_bx(body: bytes) -> TxReply:
    """Decode the body of a BX option 0001 reply (header and both CRCs already checked and removed)."""
    try:
        (n,) = struct.unpack_from("<B", body, 0)
        off = 1
        tools = []
        for _ in range(n):
            handle, status = struct.unpack_from("<BB", body, off)
            off += 2
            if status == BX_VALID:
                v = struct.unpack_from("<8fII", body, off)
                off += 40
                tools.append(ToolRecord(handle=handle, state="ok",
                                        q=tuple(int(round(x * 1e4)) for x in v[0:4]),  # type: ignore[arg-type]
                                        t=tuple(int(round(x * 100)) for x in v[4:7]),  # type: ignore[arg-type]
                                        error=int(round(v[7] * 1e4)), port_status=v[8], frame=v[9]))
            elif status == BX_MISSING:
                port, frame = struct.unpack_from("<II", body, off)
                off += 8
                tools.append(ToolRecord(handle=handle, state="missing", port_status=port, frame=frame))
            elif status == BX_DISABLED:
                tools.append(ToolRecord(handle=handle, state="disabled"))
            else:
                raise ReplyFormatError(f"BX handle {handle:02X}: unknown handle status 0x{status:02X}")
        (system_status,) = struct.unpack_from("<H", body, off)
        off += 2
    except struct.error:
        raise ReplyFormatError(f"BX reply body of {len(body)} bytes is shorter than its handles need") from None
    if off != len(body):
        raise ReplyFormatError(f"BX reply body has {len(body) - off} bytes after the system status")
    return TxReply(tools=tuple(tools), system_status=system_status)


def error_code(text: str) -> int | None:
    """The code of an 'ERRORxx' reply, or None if `text` is not an error reply."""
    if text.startswith("ERROR") and len(text) == 7 and set(text[5:]) <= _HEX:
        return int(text[5:], 16)
    return None


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

    def _binary(self, buf: bytearray) -> object:
        """A binary reply at the head of `buf` (bytes: its body), `_WAIT` for more bytes, `_SKIPPED` when bytes
        were consumed without a reply, or None when the head is not a binary reply (the ASCII path goes on)."""
        j = buf.find(BX_HEADER)
        if j < 0:
            return None
        cr = buf.find(b"\r")
        if 0 <= cr < j:
            return None  # an ASCII line ends first
        if len(buf) < j + 6:
            return _WAIT if j == 0 or cr < 0 else None
        length, hcrc = struct.unpack_from("<HH", buf, j + 2)
        if crc16(bytes(buf[j : j + 4])) != hcrc or length > MAX_REPLY:
            return None  # not a header: the bytes are part of an ASCII line (counted there if damaged)
        if j > 0:  # bytes before a good header: garbage on the line
            self.garbage_bytes += j
            self.resyncs += 1
            self._faults.append(("stream.resynced", f"{j} garbage bytes before a BX reply"))
            del buf[:j]
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
        # damaged (or cut short and run into the next reply): drop up to the next header inside it
        nxt = buf.find(BX_HEADER, 2, total)
        cut = nxt if nxt > 0 else total
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
