import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.stabilometry.cell_board.codec import (
    SAMPLE_FRAME_LEN, FrameDecoder, ReplyFrame, SampleFrame, crc16, crc16_ccitt_false, encode_reply, encode_sample,
)

cells24 = st.tuples(*[st.integers(-(1 << 23), (1 << 23) - 1)] * 4)


def test_crc_check_value_and_table_agree():
    assert crc16_ccitt_false(b"123456789") == 0x29B1  # the catalogue check value of CRC-16/CCITT-FALSE
    assert crc16(b"123456789") == 0x29B1


def test_frame_layout():
    f = encode_sample(0x1234, (1, -1, 0x7FFFFF, -(1 << 23)))
    assert len(f) == SAMPLE_FRAME_LEN == 19
    assert f[:3] == b"\xa5\x5a\x01" and f[3:5] == b"\x34\x12"
    assert f[5:8] == b"\x01\x00\x00" and f[8:11] == b"\xff\xff\xff"
    assert int.from_bytes(f[-2:], "little") == crc16(f[2:-2])
    with pytest.raises(ValueError, match="int24"):
        encode_sample(0, (1 << 23, 0, 0, 0))


@given(st.lists(st.tuples(st.integers(0, 0xFFFF), cells24), min_size=1, max_size=30), st.integers(1, 40))
def test_roundtrip_any_split(frames, cut):
    data = b"".join(encode_sample(c, v) for c, v in frames) + encode_reply("OK START")
    d = FrameDecoder()
    out = []
    for i in range(0, len(data), cut):
        out += d.feed(data[i:i + cut])
    assert [(f.counter, f.cells) for f in out if isinstance(f, SampleFrame)] == frames
    assert [f.text for f in out if isinstance(f, ReplyFrame)] == ["OK START"]
    assert d.stats.crc_errors == d.stats.bad_frames == d.stats.bytes_skipped == 0


@settings(max_examples=300)
@given(st.binary(max_size=600), st.integers(1, 64))
def test_random_bytes_only_counted_errors(data, cut):
    d = FrameDecoder()
    for i in range(0, len(data), cut):
        out = d.feed(data[i:i + cut])  # never raises
        assert all(isinstance(f, (SampleFrame, ReplyFrame)) for f in out)
    s = d.stats
    assert s.bytes_skipped <= len(data)
    assert min(s.frames, s.replies, s.crc_errors, s.bad_frames) >= 0


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 0xFFFF), cells24), min_size=2, max_size=10),
       st.binary(min_size=1, max_size=40).filter(lambda b: b"\xa5" not in b))
def test_garbage_between_frames_is_skipped_and_counted(frames, junk):
    enc = [encode_sample(c, v) for c, v in frames]
    data = enc[0] + junk + b"".join(enc[1:])
    d = FrameDecoder()
    out = d.feed(data)
    assert [(f.counter, f.cells) for f in out] == frames
    assert d.stats.bytes_skipped == len(junk)


def test_bad_crc_and_truncated_frames_counted_neighbours_kept():
    a, b, c = (encode_sample(i, (i, 2 * i, 3 * i, 4 * i)) for i in range(3))
    bad = b[:-1] + bytes([b[-1] ^ 0x55])
    d = FrameDecoder()
    out = d.feed(a + bad + c[:9] + c)
    assert [f.counter for f in out] == [0, 2]
    assert d.stats.crc_errors >= 2  # the bad CRC and the cut frame (which swallows the next frame's start)


def test_reply_validation():
    with pytest.raises(ValueError):
        encode_reply("")
    d = FrameDecoder()
    frame = bytearray(encode_reply("OK"))
    frame[3] = 0  # length 0 is not a frame
    assert d.feed(bytes(frame)) == [] and d.stats.bad_frames == 1
