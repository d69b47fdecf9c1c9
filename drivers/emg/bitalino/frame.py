"""BITalino (r)evolution data frame: length, CRC4, encode and decode of one frame.

Layout (PLUX public APIs, see docs/devices.md): a frame of L bytes read as one little-endian integer carries, from
the most significant bits down: sequence number (4 bits), CRC4 (4 bits), digital I1 I2 O1 O2 (4 bits), then the
acquired analog channels in acquisition order, 10 bits each for the first four and 6 bits for the fifth and sixth,
then zero padding. L = ceil((12 + 10 n) / 8) for n <= 4, ceil((52 + 6 (n - 4)) / 8) otherwise. The CRC4
(polynomial x^4 + x + 1, initial 0, bits MSB first) runs over the whole frame with the CRC nibble itself set to
zero. A frame carries no sync byte: finding frames in a byte stream is `decoder.FrameDecoder`'s job.
"""

from __future__ import annotations

import numpy as np

N_ANALOG = 6


def frame_length(n_channels: int) -> int:
    """Bytes per frame for `n_channels` acquired analog channels (1..6)."""
    if not 1 <= n_channels <= N_ANALOG:
        raise ValueError(f"BITalino acquires 1 to 6 analog channels, not {n_channels}")
    bits = 12 + 10 * n_channels if n_channels <= 4 else 52 + 6 * (n_channels - 4)
    return (bits + 7) // 8


def channel_widths(n_channels: int) -> tuple[int, ...]:
    """Bit width of each acquired channel, in acquisition order."""
    frame_length(n_channels)
    return tuple(10 if i < 4 else 6 for i in range(n_channels))


def _crc_table() -> bytes:
    """next_crc = T[(crc << 8) | byte] for the 4-bit CRC x^4 + x + 1, bits MSB first."""
    table = bytearray(16 * 256)
    for crc in range(16):
        for byte in range(256):
            x = crc
            for bit in range(7, -1, -1):
                x <<= 1
                if x & 0x10:
                    x ^= 0x13  # drop bit 4, feed back x + 1
                x ^= (byte >> bit) & 1
            table[(crc << 8) | byte] = x & 0x0F
    return bytes(table)


CRC_TABLE = _crc_table()


def crc4(data: bytes | bytearray | memoryview, start: int = 0, length: int | None = None) -> int:
    """CRC4 of `data[start:start+length]` with the low nibble of its last byte taken as zero."""
    end = len(data) if length is None else start + length
    if end - start < 1:
        raise ValueError("crc4 of an empty frame")
    t = CRC_TABLE
    x = 0
    for i in range(start, end - 1):
        x = t[(x << 8) | data[i]]
    return t[(x << 8) | (data[end - 1] & 0xF0)]


def check_frame(frame: bytes | bytearray | memoryview) -> bool:
    """True if the frame's CRC4 nibble matches its content."""
    return crc4(frame) == (frame[-1] & 0x0F)


def valid_seq(buf: bytes | bytearray, p: int, length: int) -> int:
    """Sequence number (0..15) of the frame of `length` bytes at offset p of `buf` if its CRC is valid, else -1."""
    t = CRC_TABLE
    x = 0
    end = p + length - 1
    for i in range(p, end):
        x = t[(x << 8) | buf[i]]
    last = buf[end]
    x = t[(x << 8) | (last & 0xF0)]
    return last >> 4 if x == (last & 0x0F) else -1


def encode_frame(seq: int, analog: "list[int] | tuple[int, ...] | np.ndarray", digital: tuple[int, ...] = (0, 0, 0, 0)) -> bytes:
    """One frame as the device sends it (used by the simulator and by tests)."""
    n = len(analog)
    length = frame_length(n)
    widths = channel_widths(n)
    total = 8 * length
    v = (seq & 0x0F) << (total - 4)
    d = 0
    for bit in digital[:4]:
        d = (d << 1) | (1 if bit else 0)
    v |= d << (total - 12)
    pos = total - 12
    for value, w in zip(analog, widths):
        pos -= w
        value = int(value)
        if not 0 <= value < (1 << w):
            raise ValueError(f"analog value {value} does not fit in {w} bits")
        v |= value << pos
    raw = bytearray(v.to_bytes(length, "little"))
    raw[-1] |= crc4(raw)
    return bytes(raw)


def decode_frame(frame: bytes | bytearray | memoryview, n_channels: int) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """(sequence 0..15, digital (I1, I2, O1, O2), analog values) of one frame; the CRC is not checked here."""
    length = frame_length(n_channels)
    if len(frame) != length:
        raise ValueError(f"a {n_channels}-channel frame has {length} bytes, not {len(frame)}")
    total = 8 * length
    v = int.from_bytes(bytes(frame), "little")
    seq = v >> (total - 4)
    d = (v >> (total - 12)) & 0x0F
    digital = ((d >> 3) & 1, (d >> 2) & 1, (d >> 1) & 1, d & 1)
    out = []
    pos = total - 12
    for w in channel_widths(n_channels):
        pos -= w
        out.append((v >> pos) & ((1 << w) - 1))
    return seq, digital, tuple(out)
