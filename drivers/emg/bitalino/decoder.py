"""`FrameDecoder`: finds, checks and decodes BITalino frames in a byte stream fed in arbitrary chunks.

A frame carries no sync byte: alignment rests on the CRC4 (1 in 16 random positions pass) and on the 4-bit
sequence counter. A frame is accepted only when the next frame confirms it (valid CRC and the next sequence
number); the decoder re-synchronises on three consecutive confirmed frames and gives up the first frame of that
run (its predecessor is unverified: L bytes of noise just before a real frame pass both checks 1 time in 256).

A frame that follows a verified frame out of sequence is dropped too (`frames_dropped_after_gap`, event
`frame.dropped_after_gap`). Why: bytes lost mid-stream in a multiple of the frame length keep the decoder
aligned, and the frame that straddles the drop point is the head of one real frame spliced to the tail of a
later one. Its sequence nibble and CRC nibble are the later frame's, so the next frame confirms it, and its CRC4
passes 1 time in 16: 4 to 5 % of such drops stored a chimera as a real sample. The only trace of the splice is
the sequence jump, so the first frame after a jump is given up (counted lost with the gap; a device-side jump
costs one more sample). The dropped frame's place in the numbering is taken when the frame after it continues
from it; if that frame does not come (the dropped one was noise), the numbering goes on as if it never came.
Limits: a jump of a multiple of 16 frames is invisible to a 4-bit counter; an inserted run of exactly L noise
bytes whose sequence nibble repeats the previous frame's is read as a 16-frame gap (dropped, not stored).

Accounting, exact at every call (`tests/drivers/emg/test_bitalino_accounting.py`): bytes_in = L x frames +
bytes_bad_frames (crc-failed, rejected, dropped frames) + bytes_skipped (noise, resync search, the given-up
first frame of a resync, leftovers at a restart) + `unsettled_bytes` (awaiting more input); and, with the
decoder numbering from 0, next_seq = frames + samples_lost.

What a `feed` returns (`Decoded`, `DecoderEvent`) is in `decoded.py`.

Speed: a vectorised fast path (`fastscan`) accepts runs of confirmed frames in one step; the first frame that
is not confirmed goes to the per-frame path, so acceptance, resync and counting follow exactly the per-frame
rules. `FrameDecoder(n, vectorised=False)` is the pure per-frame decoder, kept as the reference in tests.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from drivers.emg.bitalino.decoded import Decoded, DecoderEvent
from drivers.emg.bitalino.fastscan import FastTables, arrival_times, confirmed_run, fast_tables, unpack
from drivers.emg.bitalino.frame import channel_widths, frame_length, valid_seq


class FrameDecoder:
    """Finds, checks and decodes frames in a byte stream fed in arbitrary chunks.

    Counters (`counters()`): frames, crc_errors (frames whose CRC failed), frames_rejected (valid CRC but
    inconsistent sequence), frames_dropped_after_gap, resyncs, bytes_in, bytes_bad_frames, bytes_skipped, gaps,
    samples_lost. `restart(next_seq)` is for a new acquisition (the device counter starts again): the next
    accepted frame gets device sequence `next_seq`.
    """

    RESYNC_FRAMES = 3
    FAST_MIN_FRAMES = 7  # below this many complete frames the per-frame path is cheaper (numpy call overhead)
    FAST_MAX_FRAMES = 4096  # frames checked per vectorised scan (bounds the work redone after an anomaly)

    def __init__(self, n_channels: int, *, next_seq: int = 0, vectorised: bool = True) -> None:
        """`vectorised=False` gives the pure per-frame decoder (same results, slower; the reference in tests)."""
        self.n_channels = n_channels
        self.vectorised = bool(vectorised) and hasattr(np, "bitwise_count")  # numpy >= 2.0
        self._fast: FastTables | None = fast_tables(n_channels) if self.vectorised else None
        self.length = frame_length(n_channels)
        self._widths = channel_widths(n_channels)
        self._buf = bytearray()
        self._base = 0  # absolute stream offset of _buf[0]
        self._marks: deque[tuple[int, float]] = deque()  # (absolute end offset of a fed chunk, its time)
        self._synced = False
        self._resync_from = 0  # absolute offset where the current search began
        self._last4 = 15  # the device numbers the first frame after a start 0
        self._pred4 = -1  # sequence nibble of the verified frame ending at the scan position, -1 if none
        self._held: tuple[int, int] | None = None  # a dropped frame: (_last4 before it, samples its gap stands for)
        self._started = False
        self._next_seq = int(next_seq)
        self.frames = 0
        self.crc_errors = 0
        self.rejected = 0
        self.dropped_after_gap = 0
        self.resyncs = 0
        self.bytes_in = 0
        self.bytes_bad_frames = 0
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

    @property
    def unsettled_bytes(self) -> int:
        """Bytes fed but not yet decoded or counted: the buffer, and (out of sync) the bytes searched so far."""
        return self._base + len(self._buf) - (self._base if self._synced else self._resync_from)

    def restart(self, next_seq: int) -> None:
        """Forget buffered bytes (counted as skipped) and the 4-bit counter; the next accepted frame is `next_seq`."""
        self.bytes_skipped += self.unsettled_bytes
        self._base += len(self._buf)
        self._buf.clear()
        self._marks.clear()
        self._synced = False
        self._resync_from = self._base
        self._last4 = 15
        self._pred4 = -1
        self._held = None
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
            "frames_dropped_after_gap": self.dropped_after_gap,
            "resyncs": self.resyncs,
            "bytes_in": self.bytes_in,
            "bytes_bad_frames": self.bytes_bad_frames,
            "bytes_skipped": self.bytes_skipped,
            "gaps": self.gaps,
            "samples_lost": self.samples_lost,
        }

    # -- frame checks -------------------------------------------------------------------------------------
    def _check(self, p: int) -> int:
        """Sequence number (0..15) of the frame at buffer offset p if its CRC is valid, else -1."""
        return valid_seq(self._buf, p, self.length)

    def _confirmed(self, p: int) -> int:
        """Sequence of the frame at p if it and the next frame are valid and consecutive, else -1."""
        s = self._check(p)
        if s < 0:
            return -1
        s2 = self._check(p + self.length)
        return s if s2 == (s + 1) & 0x0F else -1

    def _confirmed_run(self, p: int, m: int) -> tuple[int, int, np.ndarray]:
        """Vectorised `_confirmed` over the m >= 2 complete frames at p, p+L, ... (see `fastscan.confirmed_run`)."""
        assert self._fast is not None
        return confirmed_run(self._buf, p, m, self._fast)

    # -- sequence bookkeeping of the scan -------------------------------------------------------------------
    def _take(self, p: int, s: int, accepted: list[tuple[int, int]], lost_before: list[int]) -> None:
        """Accept the frame at p (sequence nibble s): the samples lost before it are its jump from the last one,
        plus the gap a dropped frame just before it stood for."""
        lost = (s - self._last4 - 1) & 0x0F
        if self._held is not None:
            lost += self._held[1]
            self._held = None
        accepted.append((p, s))
        lost_before.append(lost)
        self._last4 = self._pred4 = s

    def _spliced(self, p: int, s: int, events: list[DecoderEvent]) -> bool:
        """True (the frame at p dropped and counted) if it follows a verified frame out of sequence: after a drop
        of whole frames' worth of bytes it is made of two real frames (see the module docstring)."""
        pred = self._pred4
        if pred < 0 or s == (pred + 1) & 0x0F:
            return False
        lost = (s - self._last4 - 1) & 0x0F
        self.dropped_after_gap += 1
        self.bytes_bad_frames += self.length
        events.append(DecoderEvent("frame.dropped_after_gap", {"offset": self._base + p, "lost_before": lost}))
        self._held = (self._last4, lost + 1)
        self._last4 = self._pred4 = s
        return True

    def _break_chain(self) -> None:
        """The frame at the scan position is not accepted: no verified predecessor for the next one, and a frame
        dropped just before proved nothing (it was not followed by a frame continuing from it)."""
        self._pred4 = -1
        if self._held is not None:
            self._last4 = self._held[0]
            self._held = None

    def _bad_frame(self, p: int, crc_failed: bool, events: list[DecoderEvent]) -> None:
        if crc_failed:
            self.crc_errors += 1
            events.append(DecoderEvent("frame.crc_failed", {"offset": self._base + p}))
        else:
            self.rejected += 1
            events.append(DecoderEvent("frame.rejected", {"offset": self._base + p, "why": "sequence"}))
        self.bytes_bad_frames += self.length
        self._break_chain()

    # -- feeding ------------------------------------------------------------------------------------------
    def feed(self, data: bytes, t: float = 0.0, *, final: bool = False) -> Decoded:
        """Add bytes that arrived at host time `t`; return the frames that are now certain.

        `final=True` (after a stop) also accepts a last frame that has no successor, if its CRC and sequence
        number are the expected ones."""
        if data:
            self._buf += data
            self.bytes_in += len(data)
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
                s = -1
                while p + need <= n:
                    s = self._confirmed(p)
                    if s >= 0 and self._confirmed(p + L) >= 0 and self._confirmed(p + 2 * L) >= 0:
                        found = p
                        break
                    p += 1
                if found < 0:
                    break
                skipped = self._base + found - self._resync_from
                self._pred4 = -1
                if skipped or self._started:
                    # the first frame of the run has no verified predecessor: L bytes of noise just before a
                    # real frame pass its checks 1 time in 256, so it is given up (and counted as lost); it is
                    # the verified predecessor of the next one
                    found += L
                    skipped += L
                    self._pred4 = s
                    self.resyncs += 1
                    self.bytes_skipped += skipped
                    events.append(DecoderEvent("stream.resynced", {"bytes_skipped": skipped}))
                p = found
                self._synced = True
                continue
            if fast and p + fast_need <= n:
                j, s, values = self._confirmed_run(p, min((n - p) // L, self.FAST_MAX_FRAMES))
                if j:
                    # frames 0..j-1 are each confirmed by their successor: the per-frame path would take them one
                    # by one, the first after whatever gap precedes it (or drop it) and the others with none
                    if self._spliced(p, s, events):
                        p += L
                        if j == 1:
                            continue
                        j, s, values = j - 1, (s + 1) & 0x0F, values[1:]
                    runs[len(accepted)] = values  # one entry in `accepted` stands for the j frames of the run
                    self._take(p, s, accepted, lost_before)
                    self._last4 = self._pred4 = (s + j - 1) & 0x0F
                    p += j * L
                    continue
            if p + 2 * L > n:
                if final and p + L <= n and self._started:
                    s = self._check(p)
                    if s == (self._last4 + 1) & 0x0F:
                        self._take(p, s, accepted, lost_before)
                        p += L
                break
            s = self._confirmed(p)
            if s >= 0:
                if not self._spliced(p, s, events):
                    self._take(p, s, accepted, lost_before)
                p += L
                continue
            if p + 3 * L > n:
                break  # wait: is this one corrupted frame, or lost alignment?
            s_here = self._check(p)
            bad = s_here < 0
            if not bad and s_here == (self._last4 + 1) & 0x0F and (
                self._confirmed(p + L) >= 0 or self._check(p + 2 * L) == (s_here + 2) & 0x0F
            ):
                # in line with the frame before it, and alignment holds after it: the fault is after it
                self._take(p, s_here, accepted, lost_before)
                p += L
                continue
            if self._confirmed(p + L) >= 0:
                self._bad_frame(p, bad, events)
                p += L
                continue
            if bad:
                self.crc_errors += 1  # its bytes go with the resync search (counted skipped when it ends)
                events.append(DecoderEvent("frame.crc_failed", {"offset": self._base + p}))
            self._break_chain()
            self._synced = False
            self._resync_from = self._base + p
            p += 1
        if fast:
            return self._emit_vectorised(p, accepted, lost_before, events, runs)
        return self._emit(p, accepted, lost_before, events)

    def _consume(self, consumed: int) -> None:
        if consumed:
            del self._buf[:consumed]
            self._base += consumed
            marks = self._marks
            while len(marks) > 1 and marks[0][0] <= self._base:
                marks.popleft()

    def _emit(
        self, consumed: int, accepted: list[tuple[int, int]], lost_before: list[int], events: list[DecoderEvent]
    ) -> Decoded:
        k = len(accepted)
        L = self.length
        seq = np.empty(k, dtype=np.int64)
        analog = np.empty((k, self.n_channels), dtype=np.uint16)
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
                events.append(DecoderEvent("samples.missing", {"lost": lost, "first_missing": nxt}))
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
        self._consume(consumed)
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
        if not k:
            self._consume(consumed)
            return Decoded.empty(self.n_channels, events)
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
                    events.append(DecoderEvent("samples.missing", {"lost": lost, "first_missing": int(seq[i]) - lost}))
        else:
            seq = np.arange(nxt, nxt + k, dtype=np.int64)
        self._next_seq = int(seq[-1]) + 1
        digital, analog = unpack(values, fast)
        segs = [(self._base + p + L, c) for (p, _s4), c in zip(accepted, counts)]  # (first frame end, count)
        t_arr = arrival_times(self._marks, segs, L, k)
        self.frames += k
        self._started = True
        self._consume(consumed)
        return Decoded(seq=seq, analog=analog, digital=digital, t_arrival=t_arr, events=events)

    def flush(self) -> Decoded:
        """Accept a last pending frame (after a stop); leftover bytes are counted as skipped."""
        out = self.feed(b"", final=True)
        self.restart(self._next_seq)
        return out
