"""CRC-16 of the NDI Combined API: polynomial x^16 + x^15 + x^2 + 1, reflected (0xA001), init 0, no final xor.

This is CRC-16/ARC. Every ASCII reply ends with this CRC of all reply characters before it, as 4 upper-case hex
digits, then CR; a command sent in colon form ("TX:0001") carries the CRC of its text the same way.
Known vectors: "OKAY" -> A896, "RESET" -> BE6F, "INIT:" -> E3A5 (ndicapi's probe exchange), "123456789" -> BB3D.
"""

from __future__ import annotations


def _table() -> tuple[int, ...]:
    out = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        out.append(crc)
    return tuple(out)


_TABLE = _table()


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-16/ARC of `data`, continuing from `crc`."""
    table = _TABLE
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc


def crc_hex(data: bytes) -> bytes:
    """The 4 upper-case hex digits the device appends to `data`."""
    return b"%04X" % crc16(data)
