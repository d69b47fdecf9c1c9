"""Record framing: MAGIC | u32 LE payload length | u32 LE CRC-32 (over the length bytes + payload) | payload.

The CRC covers the length field, so a flipped length is caught like a flipped payload byte. The reader never
trusts a length above `MAX_RECORD_BYTES`, so a corrupted length cannot make it allocate absurdly.
"""

from __future__ import annotations

import enum
import struct
import zlib

MAGIC = b"AMJ1"
HEADER = struct.Struct("<4sII")  # magic, payload length, crc32
HEADER_BYTES = HEADER.size  # 12
_LEN = struct.Struct("<I")
MAX_RECORD_BYTES = 256 * 1024 * 1024  # largest payload the writer accepts and the reader believes


class FrameStatus(enum.Enum):
    OK = "ok"  # a whole, CRC-valid record starts here
    INCOMPLETE = "incomplete"  # a valid prefix of a record: more bytes may still come (or a torn tail)
    BAD = "bad"  # not a record: wrong magic, absurd length or CRC mismatch


def record_crc(length_bytes: bytes | memoryview, payload: bytes | memoryview) -> int:
    """CRC-32 of the length field followed by the payload."""
    return zlib.crc32(payload, zlib.crc32(length_bytes)) & 0xFFFFFFFF


def frame_header(payload: bytes | memoryview) -> bytes:
    """The 12 header bytes that precede `payload` on disk."""
    n = len(payload)
    if n > MAX_RECORD_BYTES:
        raise ValueError(f"journal record of {n} bytes exceeds MAX_RECORD_BYTES={MAX_RECORD_BYTES}")
    return HEADER.pack(MAGIC, n, record_crc(_LEN.pack(n), payload))


def frame(payload: bytes | memoryview) -> bytes:
    """The whole framed record (header + payload) as one bytes object."""
    return frame_header(payload) + bytes(payload)


def check_frame(buf: bytes | bytearray | memoryview, pos: int) -> tuple[FrameStatus, int]:
    """Classify the bytes of `buf` starting at `pos`.

    Returns (status, payload_length); the length is meaningful for OK (and for INCOMPLETE when the length field
    was readable), 0 otherwise. INCOMPLETE means: the bytes up to the end of `buf` are consistent with the start
    of a record (magic prefix, plausible length) but the record does not end inside `buf`.
    """
    mv = memoryview(buf)
    avail = len(mv) - pos
    if avail <= 0:
        return FrameStatus.INCOMPLETE, 0
    if avail < HEADER_BYTES:
        k = min(avail, 4)
        if bytes(mv[pos : pos + k]) != MAGIC[:k]:
            return FrameStatus.BAD, 0
        if avail >= 8:
            (n,) = _LEN.unpack_from(mv, pos + 4)
            if n > MAX_RECORD_BYTES:
                return FrameStatus.BAD, 0
            return FrameStatus.INCOMPLETE, n
        return FrameStatus.INCOMPLETE, 0
    magic, n, crc = HEADER.unpack_from(mv, pos)
    if magic != MAGIC or n > MAX_RECORD_BYTES:
        return FrameStatus.BAD, 0
    end = pos + HEADER_BYTES + n
    if end > len(mv):
        return FrameStatus.INCOMPLETE, n
    if record_crc(mv[pos + 4 : pos + 8], mv[pos + HEADER_BYTES : end]) != crc:
        return FrameStatus.BAD, n
    return FrameStatus.OK, n
