"""BITalino codec: frame layout, CRC4, state reply, version text, streaming decoder (incl. property tests)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.emg.bitalino import commands as cmd
from drivers.emg.bitalino.codec import (
    BitalinoState,
    FrameDecoder,
    StateCrcError,
    channel_widths,
    check_frame,
    crc4,
    decode_frame,
    decode_state,
    encode_frame,
    encode_state,
    extract_version,
    frame_length,
    parse_version,
)


def ref_crc4(data: bytes) -> int:
    """Bit-serial CRC4 (x^4 + x + 1) as PLUX's APIs describe it, written independently of the table version."""
    bits = []
    for i, byte in enumerate(data):
        if i == len(data) - 1:
            byte &= 0xF0
        bits += [(byte >> b) & 1 for b in range(7, -1, -1)]
    reg = 0
    for bit in bits:
        top = (reg >> 3) & 1
        reg = ((reg << 1) & 0x0F) | bit
        if top:
            reg ^= 0x03
    return reg


def test_frame_length_matches_documented_formula() -> None:
    assert [frame_length(n) for n in range(1, 7)] == [3, 4, 6, 7, 8, 8]
    with pytest.raises(ValueError):
        frame_length(0)
    with pytest.raises(ValueError):
        frame_length(7)
    assert channel_widths(6) == (10, 10, 10, 10, 6, 6)


def test_crc4_table_equals_bit_serial_reference() -> None:
    rng = random.Random(1)
    for _ in range(2000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
        assert crc4(data) == ref_crc4(data)


def test_known_frame_bytes() -> None:
    # 4 channels, seq 5, digital I1=1 O2=1, A1=1023 A2=0 A3=512 A4=1: bits laid out from the top of the frame
    f = encode_frame(5, [1023, 0, 512, 1], (1, 0, 0, 1))
    assert len(f) == 7
    assert f[-1] >> 4 == 5
    assert f[-2] == (0b1001 << 4) | 0x0F  # digital nibble, then A1's top 4 bits
    assert f[-3] == 0xFC  # A1 low 6 bits, A2 top 2 bits
    assert f[-4] == 0x00 and f[-5] == 0x80  # A2 low byte, A3 top 8 bits
    assert f[-6] == 0x00 and f[-7] == 0x10  # A3 low 2 + A4 top 6, A4 low 4 + padding
    assert (f[-1] & 0x0F) == ref_crc4(f)


@given(st.integers(1, 6), st.integers(0, 15), st.lists(st.integers(0, 1), min_size=4, max_size=4), st.randoms())
def test_encode_decode_roundtrip(n: int, seq: int, digital: list[int], rnd: random.Random) -> None:
    values = [rnd.randrange(1 << w) for w in channel_widths(n)]
    f = encode_frame(seq, values, tuple(digital))
    assert len(f) == frame_length(n)
    assert check_frame(f)
    assert decode_frame(f, n) == (seq, tuple(digital), tuple(values))
    bad = bytearray(f)
    bad[0] ^= 0x40
    assert not check_frame(bytes(bad)) or ref_crc4(bytes(bad)) == bad[-1] & 0x0F


def test_state_reply_roundtrip_and_crc() -> None:
    s = BitalinoState(analog=(1, 2, 3, 1023, 512, 0), battery=870, battery_threshold=30, digital=(1, 0, 1, 1))
    raw = encode_state(s)
    assert len(raw) == 16
    assert raw[:2] == b"\x01\x00" and raw[12:14] == (870).to_bytes(2, "little") and raw[14] == 30
    assert decode_state(raw) == s
    broken = raw[:15] + bytes([raw[15] ^ 0x01])
    with pytest.raises(StateCrcError):
        decode_state(broken)


def test_version_parsing() -> None:
    text, end = extract_version(b"\x12\x99garbageBITalino_v5.2\nrest")
    assert text == "BITalino_v5.2" and end == len(b"\x12\x99garbageBITalino_v5.2\n")
    assert extract_version(b"BITalino_v5.")[0] is None
    v = parse_version("BITalino_v5.2")
    assert v is not None and v.revolution and (v.major, v.minor) == (5, 2)
    old = parse_version("BITalino_v3.1")
    assert old is not None and not old.revolution
    assert parse_version("OpenBCI V3") is None


def test_commands_bytes() -> None:
    assert [cmd.set_rate(r) for r in (1, 10, 100, 1000)] == [0x03, 0x43, 0x83, 0xC3]
    assert cmd.start([0, 1, 2, 3]) == 0x01 | (0x0F << 2) == 0x3D
    assert cmd.start([0], simulated=True) == 0x06
    assert cmd.battery_threshold(30) == 30 << 2
    assert cmd.trigger(True, False) == 0xB7 and cmd.trigger(False, True) == 0xBB
    assert cmd.pwm(200) == bytes((0xA3, 200))
    for bad in (lambda: cmd.set_rate(500), lambda: cmd.start([]), lambda: cmd.start([6]), lambda: cmd.start([1, 1]),
                lambda: cmd.battery_threshold(64), lambda: cmd.pwm(256)):
        with pytest.raises(ValueError):
            bad()


# -- streaming decoder ---------------------------------------------------------------------------------------


def stream(n_frames: int, start: int = 0, n_ch: int = 4) -> tuple[bytes, np.ndarray]:
    vals = np.array([[(7 * k + c * 100) % 1024 for c in range(n_ch)] for k in range(start, start + n_frames)])
    return b"".join(encode_frame(k & 15, list(v)) for k, v in zip(range(start, start + n_frames), vals)), vals


def feed_all(dec: FrameDecoder, data: bytes, rng: random.Random | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = rng or random.Random(0)
    seqs, vals, names = [], [], []
    i = 0
    while i < len(data):
        j = min(len(data), i + rng.randrange(1, 40))
        out = dec.feed(data[i:j], float(i))
        seqs.append(out.seq)
        vals.append(out.analog)
        names += [e.name for e in out.events]
        i = j
    out = dec.flush()
    seqs.append(out.seq)
    vals.append(out.analog)
    names += [e.name for e in out.events]
    return np.concatenate(seqs), np.concatenate(vals), names


def test_decoder_clean_stream_any_chunking() -> None:
    data, vals = stream(200)
    for seed in range(5):
        dec = FrameDecoder(4)
        seq, got, names = feed_all(dec, data, random.Random(seed))
        assert np.array_equal(seq, np.arange(200))
        assert np.array_equal(got, vals)
        assert names == [] and dec.crc_errors == dec.resyncs == dec.gaps == 0


def test_decoder_bad_crc_frame_is_counted_and_its_sample_lost() -> None:
    data, vals = stream(100)
    L = 7
    bad = bytearray(data)
    bad[50 * L + 6] ^= 0x03  # CRC nibble of frame 50
    dec = FrameDecoder(4)
    seq, got, names = feed_all(dec, bytes(bad))
    assert dec.crc_errors == 1 and dec.gaps == 1 and dec.samples_lost == 1 and dec.resyncs == 0
    assert "frame.crc_failed" in names and "samples.missing" in names
    assert 50 not in seq and len(seq) == 99
    assert np.array_equal(got, np.delete(vals, 50, axis=0))


def test_decoder_truncated_frame_resyncs() -> None:
    data, vals = stream(100)
    L = 7
    cut = data[: 40 * L + 3] + data[41 * L :]  # frame 40 loses its last 4 bytes
    dec = FrameDecoder(4)
    seq, got, names = feed_all(dec, cut)
    assert dec.resyncs >= 1 and "stream.resynced" in names
    # lost: the cut frame, the one before it (cannot be confirmed) and the first of the resync run
    assert dec.samples_lost == 3 and set(range(39, 42)).isdisjoint(seq.tolist())
    # every delivered sample is a real one, at its true sequence number
    assert np.array_equal(got, vals[seq])


def test_decoder_garbage_between_frames() -> None:
    data, vals = stream(100)
    L = 7
    # misaligned garbage: alignment is lost and found again; the frame before it (unconfirmed) and the first frame
    # of the resync run are given up, and the bytes between are counted skipped
    g = bytes([0x55, 0x13, 0xFF, 0x00, 0x42])
    dec = FrameDecoder(4)
    seq, got, names = feed_all(dec, data[: 30 * L] + g + data[30 * L :])
    assert np.array_equal(got, vals[seq]) and sorted(set(range(100)) - set(seq.tolist())) == [29, 30]
    c = dec.counters()
    assert (c["resyncs"], c["gaps"], c["samples_lost"], c["crc_errors"]) == (1, 1, 2, 0)
    assert c["bytes_skipped"] == len(g) + 2 * L and c["bytes_bad_frames"] == 0 and names == ["stream.resynced", "samples.missing"]


def test_decoder_sequence_jump_is_a_gap() -> None:
    """The first frame after a jump is given up (it could be spliced from two frames: test_bitalino_accounting)."""
    a, va = stream(30)
    b, vb = stream(30, start=35)
    dec = FrameDecoder(4)
    seq, got, names = feed_all(dec, a + b)
    assert dec.gaps == 1 and dec.samples_lost == 6 and dec.crc_errors == 0 and dec.dropped_after_gap == 1
    assert np.array_equal(seq, np.r_[np.arange(30), np.arange(36, 65)])
    assert np.array_equal(got, np.r_[va, vb[1:]])
    assert names.count("samples.missing") == 1 and names.count("frame.dropped_after_gap") == 1


def test_decoder_arrival_times_follow_the_bytes() -> None:
    data, _ = stream(10)
    dec = FrameDecoder(4)
    o1 = dec.feed(data[:35], 1.0)  # frames 0..4 complete
    o2 = dec.feed(data[35:], 2.0, final=True)
    t = np.r_[o1.t_arrival, o2.t_arrival]
    seq = np.r_[o1.seq, o2.seq]
    assert np.array_equal(seq, np.arange(10))
    assert np.all(t[:5] == 1.0) and np.all(t[5:] == 2.0)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.integers(1, 6))
def test_random_bytes_give_only_counted_errors(data: bytes, n: int) -> None:
    dec = FrameDecoder(n)
    L = frame_length(n)
    total = 0
    for i in range(0, len(data), 17):
        out = dec.feed(data[i : i + 17], 0.0)
        assert out.analog.shape == (out.n, n) and out.seq.dtype == np.int64
        assert np.all(np.diff(out.seq) > 0)
        total += out.n
        c = dec.counters()
        # every byte fed is in a frame delivered, a bad frame, the skipped count, or still awaiting input
        assert c["bytes_in"] == min(i + 17, len(data))
        assert c["bytes_in"] == L * c["frames"] + c["bytes_bad_frames"] + c["bytes_skipped"] + dec.unsettled_bytes
    total += dec.flush().n
    c = dec.counters()
    assert c["frames"] == total and dec.unsettled_bytes == 0
    assert c["bytes_in"] == len(data) == L * c["frames"] + c["bytes_bad_frames"] + c["bytes_skipped"]
    # the numbering has a place for every sample lost
    assert dec.next_seq == c["frames"] + c["samples_lost"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 99), st.binary(min_size=1, max_size=12)), max_size=4), st.randoms())
def test_valid_stream_with_inserted_noise_never_yields_wrong_samples(inserts: list, rnd: random.Random) -> None:
    data, vals = stream(100)
    L = 7
    pieces = [data[k * L : (k + 1) * L] for k in range(100)]
    for k, noise in inserts:
        pieces[k] = noise + pieces[k]
    dec = FrameDecoder(4)
    seq, got, _ = feed_all(dec, b"".join(pieces), rnd)
    assert np.all(np.diff(seq) > 0)
    # delivered samples sit at their true index with their true values (misalignment would show here)
    ok = seq < 100
    assert np.array_equal(got[ok], vals[seq[ok]])
    # every index missing before the last delivered sample is counted as lost, and nothing after it
    assert len(seq) > 0 and dec.samples_lost == int(seq[-1]) + 1 - len(seq) == dec.next_seq - len(seq)
