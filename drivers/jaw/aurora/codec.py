"""Reply side of the Combined API: the reply models (`TxReply`, `ToolRecord`) and the decoders of the ASCII
replies the driver uses (TX option 0001, PHSR, PHINF option 0001, ERRORxx).

Formats (ndicapi `ndiTXHelper`, `ndiGetTXTransformf`, `ndiGetPHSR*`, `ndiPHINFHelper`; NDI Combined API guide):
- every reply: text, CRC-16 of the text as 4 hex digits, CR. Lines inside a reply are separated by LF.
- TX 0001: <n: 2 hex> then per handle: <handle: 2 hex> and either a transform
  Q0 Qx Qy Qz (sign + 5 digits each, x 1e-4), Tx Ty Tz (sign + 6 digits, x 0.01 mm), error (sign + 5 digits,
  x 1e-4) or the word MISSING or DISABLED (or UNOCCUPIED); then port status (8 hex) and frame number (8 hex)
  where present; LF. After the handles: system status (4 hex).
- PHSR: <n: 2 hex> then per handle <handle: 2 hex><status: 3 hex>.
- PHINF 0001: tool type (8), manufacturer id (12), tool revision (3), serial number (8), port status (2 hex).
- BX 0001 (binary): `bx.py`. The streaming reader that splits replies: `reply_reader.py`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

MAX_REPLY = 4096

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


def error_code(text: str) -> int | None:
    """The code of an 'ERRORxx' reply, or None if `text` is not an error reply."""
    if text.startswith("ERROR") and len(text) == 7 and set(text[5:]) <= _HEX:
        return int(text[5:], 16)
    return None
