"""BITalino decoder: no spliced frame is ever stored, and every byte and every frame is accounted for exactly.

A drop of k whole frames' worth of bytes in the middle of a frame leaves the decoder aligned, and the frame that
straddles the drop point is made of the head of one real frame and the tail of another. Its CRC4 passes 1 time in
16, and its (4-bit) sequence number is that of the tail's frame, so the next frame confirms it: before the fix it
was stored as a real sample (the gap was counted, the sample was a chimera).
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from drivers.emg.bitalino.codec import FrameDecoder, check_frame, encode_frame, frame_length


def truth_stream(n: int, n_ch: int, rnd: random.Random) -> tuple[list[bytes], np.ndarray]:
    """n frames with device sequence 0..n-1 and random analog codes; returns (frames, codes[n, n_ch])."""
    widths = (10, 10, 10, 10, 6, 6)[:n_ch]
    codes = np.array([[rnd.randrange(1 << w) for w in widths] for _ in range(n)], dtype=np.uint16)
    return [encode_frame(k & 0x0F, list(codes[k])) for k in range(n)], codes


def feed_chunks(dec: FrameDecoder, data: bytes, rnd: random.Random, *, check_bytes: bool = True):
    """Feed in random chunks, flush; after every call the byte accounting holds. Returns (seq, analog, event names)."""
    seqs, vals, names = [], [], []
    L = dec.length
    bounds = [0]
    while bounds[-1] < len(data):
        bounds.append(min(len(data), bounds[-1] + rnd.randrange(1, 60)))
    steps = [(lo, hi) for lo, hi in zip(bounds, bounds[1:])] + [None]
    for step in steps:
        out = dec.feed(data[step[0] : step[1]], float(step[0])) if step else dec.flush()
        seqs.append(out.seq)
        vals.append(out.analog)
        names += [e.name for e in out.events]
        if check_bytes:
            c = dec.counters()
            assert c["bytes_in"] == (step[1] if step else len(data))
            assert c["bytes_in"] == L * c["frames"] + c["bytes_bad_frames"] + c["bytes_skipped"] + dec.unsettled_bytes
    assert dec.pending_bytes == dec.unsettled_bytes == 0  # flushed: nothing left uncounted
    return np.concatenate(seqs), np.concatenate(vals), names


def spliced_drop(frames: list[bytes], k: int, start: int) -> tuple[bytes, int, int]:
    """First (frame i >= start, offset r) where dropping k*L bytes at i*L + r leaves a frame that passes its CRC."""
    L = len(frames[0])
    data = b"".join(frames)
    for i in range(start, len(frames) - k - 10):
        for r in range(1, L):
            a = i * L + r
            cut = data[:a] + data[a + k * L :]
            if check_frame(cut[i * L : (i + 1) * L]):
                return cut, i, r
    raise AssertionError("no splice passes the CRC")  # pragma: no cover - 1 in 16 of the positions do


@pytest.mark.parametrize("n_ch", [1, 4, 6])
@pytest.mark.parametrize("k", [1, 3, 9])
@pytest.mark.parametrize("vectorised", [True, False])
def test_a_spliced_frame_that_passes_its_crc_is_dropped_and_counted(n_ch: int, k: int, vectorised: bool) -> None:
    rnd = random.Random(100 * n_ch + k)
    frames, codes = truth_stream(120, n_ch, rnd)
    data, i, _r = spliced_drop(frames, k, 40)
    dec = FrameDecoder(n_ch, vectorised=vectorised)
    seq, got, names = feed_chunks(dec, data, random.Random(k))
    # every stored sample is the real one at its true index: the chimera at index i + k is not stored
    assert np.array_equal(got, codes[seq])
    assert i + k not in seq.tolist()
    assert np.array_equal(seq, np.r_[np.arange(i), np.arange(i + k + 1, 120)])
    c = dec.counters()
    assert c["frames_dropped_after_gap"] == 1 and "frame.dropped_after_gap" in names
    assert c["gaps"] == 1 and c["samples_lost"] == k + 1 and c["crc_errors"] == 0 and c["resyncs"] == 0
    assert c["bytes_bad_frames"] == frame_length(n_ch) and c["bytes_skipped"] == 0


def test_no_drop_of_whole_frames_ever_stores_a_chimera() -> None:
    """Every drop of k*L bytes (k = 1..12) at every offset of a frame: stored samples are all real, numbering exact.

    (k >= 13: when the straddling frame fails its CRC, the frame before it and the first frame of the resync run are
    lost too, k + 3 >= 16 in all, which a 4-bit counter cannot tell from k + 3 - 16.)"""
    n_ch, n = 4, 60
    L = frame_length(n_ch)
    frames, codes = truth_stream(n, n_ch, random.Random(9))
    data = b"".join(frames)
    spliced_passing = 0
    for k in range(1, 13):
        for r in range(L):
            a = 20 * L + r
            cut = data[:a] + data[a + k * L :]
            spliced_passing += r > 0 and check_frame(cut[20 * L : 21 * L])
            dec = FrameDecoder(n_ch)
            seq, got, _ = feed_chunks(dec, cut, random.Random(r))
            assert np.array_equal(got, codes[seq]), (k, r)
            c = dec.counters()
            # every frame not stored is counted lost: those whose bytes went (and the straddling one), plus, when
            # the straddling frame fails its CRC, the frame before it (unconfirmed) and the first of the resync run
            assert seq[-1] == n - 1 and c["samples_lost"] == n - len(seq), (k, r)
            intact_or_passing = r == 0 or check_frame(cut[20 * L : 21 * L])
            assert c["samples_lost"] == (k + 1 if intact_or_passing else k + 3), (k, r)
    assert spliced_passing >= 3  # the case under test does occur (about 1 splice in 16 passes the CRC4)


# -- exact accounting on any damaged stream -----------------------------------------------------------------

fault = st.one_of(
    st.tuples(st.just("noise"), st.binary(min_size=1, max_size=12)),  # stray bytes between two frames
    st.tuples(st.just("cut"), st.integers(1, 7)),  # a frame truncated to its first bytes
    st.tuples(st.just("jump"), st.integers(1, 8)),  # the device skipped frames (sequence jumps)
    st.tuples(st.just("drop_frames"), st.integers(1, 8), st.integers(0, 7)),  # k*L bytes lost at offset r of a frame
    st.tuples(st.just("drop_bytes"), st.integers(1, 20), st.integers(0, 7)),  # any number of bytes lost
)


def damaged(n_ch: int, first: int, faults: list, rnd: random.Random) -> tuple[bytes, np.ndarray, int]:
    """A stream of frames (device sequence from 0) with each fault followed by a clean run of 8 frames or more.

    Returns (bytes, codes of every sequence number the device used, number of sequence numbers used)."""
    L = frame_length(n_ch)
    widths = (10, 10, 10, 10, 6, 6)[:n_ch]
    codes: list[list[int]] = []
    out = bytearray()

    def run(m: int) -> None:
        for _ in range(m):
            v = [rnd.randrange(1 << w) for w in widths]
            out.extend(encode_frame(len(codes) & 0x0F, v))
            codes.append(v)

    run(first)
    for f in faults:
        kind = f[0]
        if kind == "noise":
            assume(len(f[1]) % L)  # L aligned stray bytes would pass as an out-of-sequence frame 1 time in 256
            out.extend(f[1])
        elif kind == "cut":
            v = [0] * n_ch
            out.extend(encode_frame(len(codes) & 0x0F, v)[: min(f[1], L - 1)])
            codes.append(v)
        elif kind == "jump":
            codes.extend([[0] * n_ch] * f[1])
        elif kind in ("drop_frames", "drop_bytes"):
            size = f[1] * L if kind == "drop_frames" else f[1]
            a = len(out) - 3 * L + f[2] % L  # inside one of the last clean frames
            del out[a : a + size]
        run(rnd.randrange(8, 30))
    return bytes(out), np.array(codes, dtype=np.uint16).reshape(-1, n_ch), len(codes)


@settings(max_examples=250, deadline=None, derandomize=True)
@given(st.integers(1, 6), st.integers(8, 30), st.lists(fault, max_size=6), st.booleans(), st.randoms(use_true_random=False))
def test_every_byte_and_every_frame_is_accounted_for(n_ch: int, first: int, faults: list, vectorised: bool,
                                                     rnd: random.Random) -> None:
    """bytes in = bytes of stored frames + bytes of bad frames + bytes skipped (+ bytes awaiting more input), after
    every feed; frames the device numbered = frames stored + samples counted lost, and every stored sample is the
    real one at its true index.

    Derandomized: the decoder's own odds of taking misaligned noise for a frame are about 1 in 65536 per burst
    (documented in the decoder), so a random run could, rarely, find that case; a fixed seed keeps the test exact."""
    data, codes, used = damaged(n_ch, first, faults, rnd)
    dec = FrameDecoder(n_ch, vectorised=vectorised)
    seq, got, _ = feed_chunks(dec, data, rnd)
    c = dec.counters()
    L = frame_length(n_ch)
    assert c["bytes_in"] == len(data) == L * c["frames"] + c["bytes_bad_frames"] + c["bytes_skipped"]
    assert c["frames"] == len(seq) and dec.next_seq == len(seq) + c["samples_lost"]
    assert dec.next_seq == used  # the last frames are clean: every sequence number used is stored or counted lost
    assert np.array_equal(got, codes[seq])


def test_a_restart_counts_the_bytes_it_forgets() -> None:
    """Before: restart() (the board re-started after a reconnect) dropped buffered bytes with no counter moving."""
    frames, _ = truth_stream(20, 4, random.Random(2))
    dec = FrameDecoder(4)
    dec.feed(b"".join(frames[:10]) + frames[10][:3], 1.0)
    left = dec.unsettled_bytes
    assert left > 0
    dec.restart(50)
    c = dec.counters()
    assert c["bytes_skipped"] == left and dec.unsettled_bytes == 0
    assert c["bytes_in"] == 7 * c["frames"] + c["bytes_bad_frames"] + c["bytes_skipped"]
