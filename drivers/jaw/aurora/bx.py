"""BX option 0001, the binary reply of the Combined API (the lighter poll on a real line, 9600 to 1.2 M baud).

- BX 0001 (binary, little-endian): header start 0xA5C4 (wire C4 A5), body length (u16), CRC-16 of those four
  bytes (u16); body: handle count (u8), per handle handle (u8), status (u8: 0x01 valid, 0x02 missing, 0x04
  disabled), for a valid one q0 qx qy qz tx ty tz error (float32), then unless disabled port status (u32) and
  frame number (u32); system status (u16); then CRC-16 of the body (u16). `parse_bx` gives the same `TxReply`
  as TX, its floats rounded to the TX resolution (q 1e-4, t 0.01 mm, error 1e-4 mm) so one stream layout holds
  both.

Framing (finding a BX reply in the byte stream, its two CRCs) is the reply reader's (`reply_reader.py`); this
module holds the format's constants and the body decoder.
"""

from __future__ import annotations

import struct

from drivers.jaw.aurora.codec import ReplyFormatError, ToolRecord, TxReply

BX_START = 0xA5C4
BX_HEADER = b"\xc4\xa5"  # BX_START little-endian, as it comes off the wire
BX_VALID, BX_MISSING, BX_DISABLED = 0x01, 0x02, 0x04


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
