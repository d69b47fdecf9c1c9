"""Vectorised frame checks of the BITalino decoder's fast path (numpy >= 2.0, `np.bitwise_count`).

The CRC4 being linear over GF(2) (initial value 0, no final xor), each bit of `crc4(frame) ^ (low nibble of the
last byte)` is the parity of the frame (as one integer) under a fixed mask: all four are zero exactly when the CRC
holds. So the CRC check, the confirmation of each frame by the next one and the extraction of the fields run over
all complete frames of a batch at once; `decoder.FrameDecoder` accepts the confirmed run in one step and hands the
first frame that is not confirmed to its per-frame path.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from drivers.emg.bitalino.frame import channel_widths, crc4, frame_length

_ARANGE = np.arange(4096, dtype=np.uint64)


class FastTables:
    """Per channel count: CRC syndrome parity masks and field shifts/masks, all on a frame read as uint64."""

    def __init__(self, n_channels: int) -> None:
        length = frame_length(n_channels)
        total = 8 * length
        self.length = length
        # syndrome(frame) = crc4(frame) ^ (frame[-1] & 0x0F) is linear over GF(2) in the frame bits (CRC with
        # initial value 0 and no final xor): its bit b is the parity of (frame & syn_masks[b])
        syn_masks = [0, 0, 0, 0]
        for q in range(total):
            f = (1 << q).to_bytes(length, "little")
            c = crc4(f) ^ (f[-1] & 0x0F)
            for bit in range(4):
                if (c >> bit) & 1:
                    syn_masks[bit] |= 1 << q
        self.syn_masks = np.array(syn_masks, dtype=np.uint64)
        self.syn_weights = np.array([16, 32, 64, 128], dtype=np.uint64)  # syndrome placed above the seq nibble
        self.seq_shift = np.uint64(total - 4)
        shifts = [total - 12 + 3, total - 12 + 2, total - 12 + 1, total - 12]  # I1 I2 O1 O2
        masks = [1, 1, 1, 1]
        pos = total - 12
        for w in channel_widths(n_channels):
            pos -= w
            shifts.append(pos)
            masks.append((1 << w) - 1)
        self.shifts = np.array(shifts, dtype=np.uint64)
        self.masks = np.array(masks, dtype=np.uint64)


_TABLES: dict[int, FastTables] = {}


def fast_tables(n_channels: int) -> FastTables:
    t = _TABLES.get(n_channels)
    if t is None:
        t = _TABLES[n_channels] = FastTables(n_channels)
    return t


def confirmed_run(buf: bytes | bytearray, p: int, m: int, tables: FastTables) -> tuple[int, int, np.ndarray]:
    """The decoder's `_confirmed` over the m >= 2 complete frames at p, p+L, ... of `buf`, at once.

    Returns (j, s0, values): frames 0..j-1 are each confirmed (valid CRC, and the next frame valid and consecutive)
    and frame j is not (or j = m - 1: the last frame has no successor here); s0 is the sequence number of frame 0;
    values[i] is frame i as one little-endian integer (uint64), for i < j."""
    L = tables.length
    # frame i as a uint64 read at offset i*L: bytes past L (next frame / padding) land in bits the masks never see
    raw = bytes(buf[p : p + m * L]) + bytes(8 - L)
    v = np.ndarray((m,), dtype="<u8", buffer=raw, offset=0, strides=(L,))
    # key = syndrome << 4 | (seq - i) mod 16: frames 0..f-1 are all valid and consecutive iff their keys equal
    # key[0] and its syndrome is 0; then frames 0..f-2 are confirmed by their successors
    syn = (np.bitwise_count(v[:, None] & tables.syn_masks) & 1) @ tables.syn_weights
    key = syn | (((v >> tables.seq_shift) - _ARANGE[:m]) & 0x0F)
    k0 = int(key[0])
    if k0 >> 4:
        return 0, k0, v[:0]
    ne = key != k0
    f = int(ne.argmax())
    if not ne[f]:
        f = m
    return f - 1, k0, v[: f - 1]


def unpack(values: np.ndarray, tables: FastTables) -> tuple[np.ndarray, np.ndarray]:
    """(digital uint8 (k, 4), analog uint16 (k, n)) of frames given as uint64 integers."""
    fields = (values[:, None] >> tables.shifts) & tables.masks
    return fields[:, :4].astype(np.uint8), fields[:, 4:].astype(np.uint16)


def arrival_times(marks: deque[tuple[int, float]], segs: list[tuple[int, int]], L: int, k: int) -> np.ndarray:
    """Arrival time of each of the k frames given as runs `segs` of (absolute end of the first frame, count): that
    of the first fed chunk (`marks`: absolute end offset, time) ending at or after the frame's end, the last chunk
    if none does. Chunks wholly before the last frame's end are dropped from `marks`, as the per-frame path does."""
    if len(marks) <= 1:
        return np.full(k, marks[0][1] if marks else 0.0, dtype=np.float64)
    t_arr = np.empty(k, dtype=np.float64)
    last_end = segs[-1][0] + (segs[-1][1] - 1) * L
    lo = 0
    while len(marks) > 1 and marks[0][0] < last_end:
        m_end, m_t = marks.popleft()
        hi = sum(min(max((m_end - e0) // L + 1, 0), c) for e0, c in segs)  # frames ending <= m_end
        if hi > lo:
            t_arr[lo:hi] = m_t
            lo = hi
    t_arr[lo:] = marks[0][1]
    return t_arr
