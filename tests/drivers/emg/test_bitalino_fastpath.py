"""BITalino decoder: the vectorised fast path gives exactly what the per-frame path gives, on any stream."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.emg.bitalino.codec import Decoded, FrameDecoder, crc4, encode_frame, frame_length

# a stream is built from pieces; each piece is one of these
segment = st.one_of(
    st.tuples(st.just("run"), st.integers(1, 60)),  # valid frames with consecutive sequence numbers
    st.tuples(st.just("jump"), st.integers(1, 20)),  # the device counter skips ahead (lost frames)
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),  # a corrupted byte so far
    st.tuples(st.just("cut"), st.integers(1, 7)),  # a frame truncated to its first bytes
    st.tuples(st.just("noise"), st.binary(min_size=1, max_size=12)),  # stray bytes
    # bytes lost in a multiple of the frame length, mid-frame: the frame at the drop point is spliced from two
    st.tuples(st.just("drop"), st.integers(1, 20), st.integers(1, 7)),
)


def build(n_ch: int, segments: list, rnd: random.Random) -> bytes:
    out = bytearray()
    seq = rnd.randrange(16)
    for seg in segments:
        kind = seg[0]
        if kind == "run":
            for _ in range(seg[1]):
                analog = [rnd.randrange(1 << w) for w in (10, 10, 10, 10, 6, 6)[:n_ch]]
                digital = tuple(rnd.randrange(2) for _ in range(4))
                out += encode_frame(seq & 0x0F, analog, digital)
                seq += 1
        elif kind == "jump":
            seq += seg[1]
        elif kind == "flip" and out:
            out[seg[1] % len(out)] ^= seg[2]
        elif kind == "cut":
            frame = encode_frame(seq & 0x0F, [1] * n_ch)
            out += frame[: min(seg[1], len(frame) - 1)]
            seq += 1
        elif kind == "noise":
            out += seg[1]
        elif kind == "drop":
            L = frame_length(n_ch)
            a = max(0, len(out) - 2 * L + seg[2] % L)
            del out[a : a + seg[1] * L]
    return bytes(out)


def same(a: Decoded, b: Decoded) -> None:
    for name in ("seq", "analog", "digital", "t_arrival"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert np.array_equal(x, y), name
    assert [(e.name, e.detail) for e in a.events] == [(e.name, e.detail) for e in b.events]


def run_both(n_ch: int, data: bytes, cuts: list[int], fast_min: int, *, final: bool) -> tuple[FrameDecoder, int]:
    """Feed the same chunks to both decoders; assert identical output after every call. Returns (fast, frames)."""
    fast = FrameDecoder(n_ch, next_seq=5)
    fast.FAST_MIN_FRAMES = fast_min  # small batches take the fast path too
    slow = FrameDecoder(n_ch, next_seq=5, vectorised=False)
    assert fast.vectorised and not slow.vectorised
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    frames = 0
    for i, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
        a = fast.feed(data[lo:hi], float(i))
        b = slow.feed(data[lo:hi], float(i))
        same(a, b)
        frames += a.n
        assert fast.counters() == slow.counters()
        assert fast.pending_bytes == slow.pending_bytes and fast.next_seq == slow.next_seq
    if final:
        a, b = fast.flush(), slow.flush()
        same(a, b)
        frames += a.n
    assert fast.counters() == slow.counters()
    assert fast.next_seq == slow.next_seq
    return fast, frames


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 6),
    st.lists(segment, min_size=1, max_size=14),
    st.lists(st.integers(0, 100_000), max_size=12),
    st.sampled_from([2, 3, FrameDecoder.FAST_MIN_FRAMES]),
    st.booleans(),
    st.randoms(use_true_random=False),
)
def test_fast_path_equals_per_frame_path(
    n_ch: int, segments: list, cuts: list[int], fast_min: int, final: bool, rnd: random.Random
) -> None:
    data = build(n_ch, segments, rnd)
    run_both(n_ch, data, cuts, fast_min, final=final)


@pytest.mark.parametrize("n_ch", range(1, 7))
def test_fast_path_takes_the_common_case(n_ch: int) -> None:
    """A clean stream in big chunks is decoded by the vectorised scan (not silently by the per-frame path)."""
    rnd = random.Random(n_ch)
    data = build(n_ch, [("run", 400)], rnd)
    calls = 0
    dec = FrameDecoder(n_ch)
    orig = dec._confirmed_run

    def counting(p: int, m: int):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return orig(p, m)

    dec._confirmed_run = counting  # type: ignore[method-assign]
    got = [dec.feed(data[i : i + 100 * frame_length(n_ch)], 0.0) for i in range(0, len(data), 100 * frame_length(n_ch))]
    assert sum(d.n for d in got) == 399 and 1 <= calls <= 8
    # and the result is the per-frame path's
    fast, frames = run_both(n_ch, data, list(range(0, len(data), 100 * frame_length(n_ch))), 7, final=True)
    assert frames == 400 and fast.crc_errors == fast.resyncs == fast.rejected == 0


def test_syndrome_masks_agree_with_crc4() -> None:
    """The parity masks of the fast path reproduce crc4 on random frames of every length."""
    rnd = random.Random(3)
    for n_ch in range(1, 7):
        L = frame_length(n_ch)
        frames = [bytes(rnd.randrange(256) for _ in range(L)) for _ in range(300)]
        frames += [encode_frame(i & 15, [rnd.randrange(64) for _ in range(n_ch)]) for i in range(50)]
        dec = FrameDecoder(n_ch)
        dec._buf = bytearray(b"".join(frames))
        tabs = dec._fast
        assert tabs is not None
        v = np.array([int.from_bytes(f, "little") for f in frames], dtype=np.uint64)
        par = np.bitwise_count(v[:, None] & tabs.syn_masks) & 1
        syn = par @ np.array([1, 2, 4, 8], dtype=np.uint64)
        want = [crc4(f) ^ (f[-1] & 0x0F) for f in frames]
        assert syn.tolist() == want
        assert sum(w == 0 for w in want) >= 50  # the encoded frames pass


@pytest.mark.parametrize("n_ch", range(1, 7))
def test_both_paths_drop_a_spliced_frame_alike(n_ch: int) -> None:
    """A drop of whole frames' worth of bytes whose straddling frame passes the CRC: same result on both paths."""
    rnd = random.Random(40 + n_ch)
    L = frame_length(n_ch)
    data = build(n_ch, [("run", 200)], rnd)
    for a in range(60 * L + 1, 140 * L):
        if a % L == 0:
            continue
        cut = data[:a] + data[a + 5 * L :]
        i = a // L
        if cut[i * L : (i + 1) * L] != data[i * L : (i + 1) * L] and crc4(cut, i * L, L) == cut[(i + 1) * L - 1] & 0x0F:
            break
    else:  # pragma: no cover - about 1 in 16 of the positions pass
        raise AssertionError("no passing splice")
    fast, frames = run_both(n_ch, cut, [len(cut) // 3, len(cut) // 2], 7, final=True)
    s0 = data[L - 1] >> 4  # the stream starts at a random sequence number: counted lost from the decoder's 5
    assert frames == 200 - 6 and fast.dropped_after_gap == 1 and fast.samples_lost == s0 + 6
    assert fast.next_seq == 5 + frames + fast.samples_lost
