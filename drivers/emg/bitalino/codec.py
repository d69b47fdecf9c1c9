"""BITalino (r)evolution wire format: frame length, CRC4, frame encode/decode, state reply, version string,
and a streaming `FrameDecoder` that finds frames in arbitrary byte chunks.

Frame layout (PLUX public APIs, see docs/devices.md): a frame of L bytes read as one little-endian integer
carries, from the most significant bits down: sequence number (4 bits), CRC4 (4 bits), digital I1 I2 O1 O2
(4 bits), then the acquired analog channels in acquisition order, 10 bits each for the first four and 6 bits
for the fifth and sixth, then zero padding. L = ceil((12 + 10 n) / 8) for n <= 4, ceil((52 + 6 (n - 4)) / 8)
otherwise. The CRC4 (polynomial x^4 + x + 1, initial 0, bits MSB first) runs over the whole frame with the CRC
nibble itself set to zero.

A frame carries no sync byte: alignment rests on the CRC (1 in 16 random positions pass) and on the sequence
counter. The decoder therefore accepts a frame only when the next frame confirms it (valid CRC and the next
sequence number), re-synchronises on three consecutive confirmed frames, and counts every rejected frame,
skipped byte and sequence gap; after a resync the first frame of the run is given up too (its predecessor is
unverified). Random bytes yield counted errors; a misaligned frame passes both checks with odds of about 1 in
4096.

Speed: `FrameDecoder` has a vectorised fast path (numpy) for the common case, a synced stream of frames with
valid CRCs and consecutive sequence numbers. The CRC being linear over GF(2) (initial value 0, no final xor),
each bit of `crc4(frame) ^ (low nibble of the last byte)` is the parity of the frame (as one integer) under a
fixed mask: all four are zero exactly when the CRC holds. The check, the confirmation by the next frame and the bit extraction run across all
complete frames of a batch at once, and the run of confirmed frames is accepted in one step; the first frame
that is not confirmed goes to the per-frame path, so acceptance, resync and counting follow exactly the
per-frame rules. `FrameDecoder(n, vectorised=False)` is the pure per-frame decoder, kept as the reference.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

N_ANALOG = 6
STATE_LENGTH = 16


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


_CRC_T = _crc_table()


def crc4(data: bytes | bytearray | memoryview, start: int = 0, length: int | None = None) -> int:
    """CRC4 of `data[start:start+length]` with the low nibble of its last byte taken as zero."""
    end = len(data) if length is None else start + length
    if end - start < 1:
        raise ValueError("crc4 of an empty frame")
    t = _CRC_T
    x = 0
    for i in range(start, end - 1):
        x = t[(x << 8) | data[i]]
    return t[(x << 8) | (data[end - 1] & 0xF0)]


def check_frame(frame: bytes | bytearray | memoryview) -> bool:
    """True if the frame's CRC4 nibble matches its content."""
    return crc4(frame) == (frame[-1] & 0x0F)


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


class _FastTables:
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


_FAST: dict[int, _FastTables] = {}
_ARANGE = np.arange(4096, dtype=np.uint64)


def _fast_tables(n_channels: int) -> _FastTables:
    t = _FAST.get(n_channels)
    if t is None:
        t = _FAST[n_channels] = _FastTables(n_channels)
    return t


# -- state reply (revolution, command 0x0B) -----------------------------------------------------------------


class BitalinoState(BaseModel):
    """Reply to the state command: all six analog inputs, battery ADC, battery threshold, digital ports."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    analog: tuple[int, int, int, int, int, int]
    battery: int = Field(ge=0, le=1023)
    battery_threshold: int = Field(ge=0, le=63)
    digital: tuple[int, int, int, int]


def encode_state(state: BitalinoState) -> bytes:
    """16 bytes: 6 x uint16 LE analog, uint16 LE battery, uint8 threshold, uint8 (I1 I2 O1 O2 | CRC4)."""
    raw = bytearray()
    for a in state.analog:
        raw += int(a).to_bytes(2, "little")
    raw += int(state.battery).to_bytes(2, "little")
    raw.append(state.battery_threshold)
    d = 0
    for bit in state.digital:
        d = (d << 1) | (1 if bit else 0)
    raw.append(d << 4)
    raw[-1] |= crc4(raw)
    return bytes(raw)


class StateCrcError(ValueError):
    pass


def decode_state(raw: bytes) -> BitalinoState:
    if len(raw) != STATE_LENGTH:
        raise ValueError(f"state reply has {STATE_LENGTH} bytes, got {len(raw)}")
    if not check_frame(raw):
        raise StateCrcError(f"state reply fails its CRC4: {raw.hex()}")
    vals = [int.from_bytes(raw[i : i + 2], "little") for i in range(0, 14, 2)]
    last = raw[15]
    return BitalinoState(
        analog=tuple(vals[:6]),  # type: ignore[arg-type]
        battery=vals[6],
        battery_threshold=raw[14],
        digital=((last >> 7) & 1, (last >> 6) & 1, (last >> 5) & 1, (last >> 4) & 1),
    )


# -- version string ----------------------------------------------------------------------------------------

VERSION_RE = re.compile(r"BITalino_v(\d+)\.(\d+)")


@dataclass(frozen=True)
class VersionInfo:
    text: str
    major: int
    minor: int

    @property
    def revolution(self) -> bool:
        """(r)evolution firmware is 5.x and later (the C++ API's `isBitalino2` test)."""
        return self.major >= 5


def parse_version(text: str) -> VersionInfo | None:
    m = VERSION_RE.search(text)
    if m is None:
        return None
    return VersionInfo(text=text.strip(), major=int(m.group(1)), minor=int(m.group(2)))


def extract_version(buf: bytes) -> tuple[str | None, int]:
    """Find 'BITalino...\\n' in `buf` (frames or noise may come first, as after a stop).

    Returns (version text without the newline, index just past it) or (None, 0) if not complete yet."""
    i = buf.find(b"BITalino")
    if i < 0:
        return None, 0
    j = buf.find(b"\n", i)
    if j < 0:
        return None, 0
    return buf[i:j].decode("ascii", errors="replace"), j + 1


# -- streaming decoder -------------------------------------------------------------------------------------


@dataclass
class DecoderEvent:
    name: str  # frame.crc_failed | frame.gap | stream.resync | frame.rejected
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Decoded:
    """Frames accepted by one `feed`: unwrapped sequence numbers, analog codes, digital bits, arrival times."""

    seq: np.ndarray  # int64 (k,)
    analog: np.ndarray  # uint16 (k, n)
    digital: np.ndarray  # uint8 (k, 4)
    t_arrival: np.ndarray  # float64 (k,)
    events: list[DecoderEvent]

    @property
    def n(self) -> int:
        return int(self.seq.shape[0])


class FrameDecoder:
    """Finds, checks and decodes frames in a byte stream fed in arbitrary chunks.

    Counters: frames, crc_errors (frames whose CRC failed), rejected (valid CRC but inconsistent sequence),
    resyncs, bytes_skipped, gaps, samples_lost. `restart(next_seq)` is for a new acquisition (the device
    counter starts again): the next accepted frame gets device sequence `next_seq`.
    """

    RESYNC_FRAMES = 3
    FAST_MIN_FRAMES = 7  # below this many complete frames the per-frame path is cheaper (numpy call overhead)
    FAST_MAX_FRAMES = 4096  # frames checked per vectorised scan (bounds the work redone after an anomaly)

    def __init__(self, n_channels: int, *, next_seq: int = 0, vectorised: bool = True) -> None:
        """`vectorised=False` gives the pure per-frame decoder (same results, slower; the reference in tests)."""
        self.n_channels = n_channels
        self.vectorised = bool(vectorised) and hasattr(np, "bitwise_count")  # numpy >= 2.0
        self._fast = _fast_tables(n_channels) if self.vectorised else None
        self.length = frame_length(n_channels)
        self._widths = channel_widths(n_channels)
        self._buf = bytearray()
        self._base = 0  # absolute stream offset of _buf[0]
        self._marks: deque[tuple[int, float]] = deque()  # (absolute end offset of a fed chunk, its time)
        self._synced = False
        self._resync_from = 0  # absolute offset where the current search began
        self._last4 = 15  # the device numbers the first frame after a start 0
        self._started = False
        self._next_seq = int(next_seq)
        self.frames = 0
        self.crc_errors = 0
        self.rejected = 0
        self.resyncs = 0
        self.bytes_skipped = 0
        self.gaps = 0
        self.samples_lost = 0

    # -- control ----------------------------------------------------------------------------------------
    @property
    def next_seq(self) -> int:
        return self._next_seq

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)

    def restart(self, next_seq: int) -> None:
        """Forget buffered bytes and the 4-bit counter; the next accepted frame is `next_seq`."""
        self._base += len(self._buf)
        self._buf.clear()
        self._marks.clear()
        self._synced = False
        self._resync_from = self._base
        self._last4 = 15
        self._started = False
        self._next_seq = int(next_seq)

    def shift(self, delta: int) -> None:
        """Move the device sequence numbering by `delta` (a gap estimated by the caller, e.g. after a reconnect)."""
        self._next_seq += int(delta)

    def counters(self) -> dict[str, int]:
        return {
            "frames": self.frames,
            "crc_errors": self.crc_errors,
            "frames_rejected": self.rejected,
            "resyncs": self.resyncs,
            "bytes_skipped": self.bytes_skipped,
            "gaps": self.gaps,
            "samples_lost": self.samples_lost,
        }

    # -- frame checks -------------------------------------------------------------------------------------
    def _check(self, p: int) -> int:
        """Sequence number (0..15) of the frame at buffer offset p if its CRC is valid, else -1."""
        buf = self._buf
        t = _CRC_T
        x = 0
        end = p + self.length - 1
        for i in range(p, end):
            x = t[(x << 8) | buf[i]]
        last = buf[end]
        x = t[(x << 8) | (last & 0xF0)]
        return last >> 4 if x == (last & 0x0F) else -1

    def _confirmed(self, p: int) -> int:
        """Sequence of the frame at p if it and the next frame are valid and consecutive, else -1."""
        s = self._check(p)
        if s < 0:
            return -1
        s2 = self._check(p + self.length)
        return s if s2 == (s + 1) & 0x0F else -1

    def _confirmed_run(self, p: int, m: int) -> tuple[int, int, np.ndarray]:
        """Vectorised `_confirmed` over the m >= 2 complete frames at p, p+L, ...

        Returns (j, s0, values): frames 0..j-1 are each confirmed (valid CRC, and the next frame valid and
        consecutive) and frame j is not (or j = m - 1: the last frame has no successor here); s0 is the sequence
        number of frame 0; values[i] is frame i as one little-endian integer (uint64), for i < j."""
        L = self.length
        fast = self._fast
        assert fast is not None
        # frame i as a uint64 read at offset i*L: bytes past L (next frame / padding) land in bits the masks
        # below never look at
        raw = bytes(self._buf[p : p + m * L]) + bytes(8 - L)
        v = np.ndarray((m,), dtype="<u8", buffer=raw, offset=0, strides=(L,))
        # key = syndrome << 4 | (seq - i) mod 16: frames 0..f-1 are all valid and consecutive iff their keys
        # equal key[0] and its syndrome is 0; then frames 0..f-2 are confirmed by their successors
        syn = (np.bitwise_count(v[:, None] & fast.syn_masks) & 1) @ fast.syn_weights
        key = syn | (((v >> fast.seq_shift) - _ARANGE[:m]) & 0x0F)
        k0 = int(key[0])
        if k0 >> 4:
            return 0, k0, v[:0]
        ne = key != k0
        f = int(ne.argmax())
        if not ne[f]:
            f = m
        return f - 1, k0, v[: f - 1]

    # -- feeding ------------------------------------------------------------------------------------------
    def feed(self, data: bytes, t: float = 0.0, *, final: bool = False) -> Decoded:
        """Add bytes that arrived at host time `t`; return the frames that are now certain.

        `final=True` (after a stop) also accepts a last frame that has no successor, if its CRC and sequence
        number are the expected ones."""
        if data:
            self._buf += data
            self._marks.append((self._base + len(self._buf), t))
        L = self.length
        buf = self._buf
        accepted: list[tuple[int, int]] = []  # (buffer offset, seq4)
        lost_before: list[int] = []
        fast = self.vectorised
        fast_need = self.FAST_MIN_FRAMES * L
        runs: dict[int, np.ndarray] = {}  # fast path: index in `accepted` of a run's first frame -> frame values
        events: list[DecoderEvent] = []
        p = 0
        while True:
            n = len(buf)
            if not self._synced:
                need = (self.RESYNC_FRAMES + 1) * L
                found = -1
                while p + need <= n:
                    s = self._confirmed(p)
                    if s >= 0 and self._confirmed(p + L) >= 0 and self._confirmed(p + 2 * L) >= 0:
                        found = p
                        break
                    p += 1
                if found < 0:
                    break
                skipped = self._base + found - self._resync_from
                if skipped or self._started:
                    # the first frame of the run has no verified predecessor: L bytes of noise just before a
                    # real frame pass its checks 1 time in 256, so it is given up (and counted as lost)
                    found += L
                    skipped += L
                    self.resyncs += 1
                    self.bytes_skipped += skipped
                    events.append(DecoderEvent("stream.resync", {"bytes_skipped": skipped}))
                p = found
                self._synced = True
                continue
            if fast and p + fast_need <= n:
                j, s, values = self._confirmed_run(p, min((n - p) // L, self.FAST_MAX_FRAMES))
                if j:
                    # frames 0..j-1 are each confirmed by their successor: the per-frame path would accept them
                    # one by one, the first after whatever gap precedes it and the others with none
                    runs[len(accepted)] = values  # one entry in `accepted` stands for the j frames of the run
                    accepted.append((p, s))
                    lost_before.append((s - self._last4 - 1) & 0x0F)
                    self._last4 = (s + j - 1) & 0x0F
                    p += j * L
                    continue
            if p + 2 * L > n:
                if final and p + L <= n and self._started:
                    s = self._check(p)
                    if s == (self._last4 + 1) & 0x0F:
                        accepted.append((p, s))
                        lost_before.append(0)
                        self._last4 = s
                        p += L
                break
            s = self._confirmed(p)
            if s >= 0:
                lost = (s - self._last4 - 1) & 0x0F
                accepted.append((p, s))
                lost_before.append(lost)
                self._last4 = s
                p += L
                continue
            if p + 3 * L > n:
                break  # wait: is this one corrupted frame, or lost alignment?
            s_here = self._check(p)
            bad = s_here < 0
            expected = (self._last4 + 1) & 0x0F
            if not bad and s_here == expected and (
                self._confirmed(p + L) >= 0 or self._check(p + 2 * L) == (s_here + 2) & 0x0F
            ):
                # in line with the frame before it, and alignment holds after it: the fault is after it
                accepted.append((p, s_here))
                lost_before.append(0)
                self._last4 = s_here
                p += L
                continue
            if self._confirmed(p + L) >= 0:
                if bad:
                    self.crc_errors += 1
                    events.append(DecoderEvent("frame.crc_failed", {"offset": self._base + p}))
                else:
                    self.rejected += 1
                    events.append(DecoderEvent("frame.rejected", {"offset": self._base + p, "why": "sequence"}))
                p += L
                continue
            if bad:
                self.crc_errors += 1
                events.append(DecoderEvent("frame.crc_failed", {"offset": self._base + p}))
            self._synced = False
            self._resync_from = self._base + p
            p += 1
        if fast:
            return self._emit_vectorised(p, accepted, lost_before, events, runs)
        return self._emit(p, accepted, lost_before, events)

    def _emit(
        self, consumed: int, accepted: list[tuple[int, int]], lost_before: list[int], events: list[DecoderEvent]
    ) -> Decoded:
        k = len(accepted)
        L = self.length
        n_ch = self.n_channels
        seq = np.empty(k, dtype=np.int64)
        analog = np.empty((k, n_ch), dtype=np.uint16)
        digital = np.empty((k, 4), dtype=np.uint8)
        t_arr = np.empty(k, dtype=np.float64)
        buf = self._buf
        total = 8 * L
        marks = self._marks
        nxt = self._next_seq
        widths = self._widths
        for i, ((p, _s4), lost) in enumerate(zip(accepted, lost_before)):
            if lost:
                self.gaps += 1
                self.samples_lost += lost
                events.append(DecoderEvent("frame.gap", {"lost": lost, "first_missing": nxt}))
                nxt += lost
            seq[i] = nxt
            nxt += 1
            v = int.from_bytes(buf[p : p + L], "little")
            d = (v >> (total - 12)) & 0x0F
            digital[i] = ((d >> 3) & 1, (d >> 2) & 1, (d >> 1) & 1, d & 1)
            pos = total - 12
            for c, w in enumerate(widths):
                pos -= w
                analog[i, c] = (v >> pos) & ((1 << w) - 1)
            end_abs = self._base + p + L
            while len(marks) > 1 and marks[0][0] < end_abs:
                marks.popleft()
            t_arr[i] = marks[0][1] if marks else 0.0
        self._next_seq = nxt
        self.frames += k
        if k:
            self._started = True
        if consumed:
            del buf[:consumed]
            self._base += consumed
            while len(marks) > 1 and marks[0][0] <= self._base:
                marks.popleft()
        return Decoded(seq=seq, analog=analog, digital=digital, t_arrival=t_arr, events=events)

    def _emit_vectorised(
        self,
        consumed: int,
        accepted: list[tuple[int, int]],
        lost_before: list[int],
        events: list[DecoderEvent],
        runs: dict[int, np.ndarray],
    ) -> Decoded:
        """What `_emit` returns (samples, sequence numbers, arrival times, gap events, counters), with numpy.

        An entry of `accepted` is one frame, or the first of a run of frames accepted together (`runs`); the
        samples lost before an entry (`lost_before`) precede its first frame."""
        fast = self._fast
        assert fast is not None
        L = self.length
        marks = self._marks
        buf = self._buf
        counts = [1] * len(accepted)
        parts: list[np.ndarray] = []
        for e, (p, _s4) in enumerate(accepted):
            vals = runs.get(e)
            if vals is None:
                parts.append(np.array([int.from_bytes(buf[p : p + L], "little")], dtype=np.uint64))
            else:
                parts.append(vals)
                counts[e] = vals.shape[0]
        k = sum(counts)
        if k:
            values = parts[0] if len(parts) == 1 else np.concatenate(parts)
            nxt = self._next_seq
            if any(lost_before):
                inc = np.ones(k, dtype=np.int64)
                firsts = np.cumsum([0] + counts[:-1]).tolist()
                for i, lost in zip(firsts, lost_before):
                    inc[i] += lost
                seq = (nxt - 1) + np.cumsum(inc)
                for i, lost in zip(firsts, lost_before):
                    if lost:
                        self.gaps += 1
                        self.samples_lost += lost
                        events.append(DecoderEvent("frame.gap", {"lost": lost, "first_missing": int(seq[i]) - lost}))
            else:
                seq = np.arange(nxt, nxt + k, dtype=np.int64)
            self._next_seq = int(seq[-1]) + 1
            fields = (values[:, None] >> fast.shifts) & fast.masks
            digital = fields[:, :4].astype(np.uint8)
            analog = fields[:, 4:].astype(np.uint16)
            # arrival time of a frame: that of the first fed chunk ending at or after the frame's end (the last
            # chunk if none does); chunks wholly before the last frame's end are dropped, as `_emit` does
            if len(marks) <= 1:
                t_arr = np.full(k, marks[0][1] if marks else 0.0, dtype=np.float64)
            else:
                t_arr = np.empty(k, dtype=np.float64)
                segs = [(self._base + p + L, c) for (p, _s4), c in zip(accepted, counts)]  # (first frame end, count)
                last_end = segs[-1][0] + (segs[-1][1] - 1) * L
                lo = 0
                while len(marks) > 1 and marks[0][0] < last_end:
                    m_end, m_t = marks.popleft()
                    hi = sum(min(max((m_end - e0) // L + 1, 0), c) for e0, c in segs)  # frames ending <= m_end
                    if hi > lo:
                        t_arr[lo:hi] = m_t
                        lo = hi
                t_arr[lo:] = marks[0][1]
            self.frames += k
            self._started = True
        else:
            seq = np.empty(0, dtype=np.int64)
            analog = np.empty((0, self.n_channels), dtype=np.uint16)
            digital = np.empty((0, 4), dtype=np.uint8)
            t_arr = np.empty(0, dtype=np.float64)
        if consumed:
            del buf[:consumed]
            self._base += consumed
            while len(marks) > 1 and marks[0][0] <= self._base:
                marks.popleft()
        return Decoded(seq=seq, analog=analog, digital=digital, t_arrival=t_arr, events=events)

    def flush(self) -> Decoded:
        """Accept a last pending frame (after a stop); leftover bytes are counted as skipped."""
        out = self.feed(b"", final=True)
        end = self._base + len(self._buf)
        self.bytes_skipped += end - (self._base if self._synced else self._resync_from)
        self.restart(self._next_seq)
        return out
