from __future__ import annotations

import math
import struct
from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pydantic import BaseModel

from acquisition.chunk import Chunk
from acquisition.events import Event
from acquisition.journal import (
    JournalFormatError,
    decode_chunk,
    decode_event,
    decode_json,
    encode_chunk,
    encode_event,
    encode_json,
    is_chunk_payload,
)
from acquisition.journal.chunk_codec import DTYPE_CODES


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-exact equality (NaN payloads included)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@st.composite
def chunks(draw: st.DrawFn) -> Chunk:
    dtype = np.dtype(draw(st.sampled_from(sorted(DTYPE_CODES.values()))))
    n = draw(st.integers(0, 40))
    c = draw(st.integers(1, 17))
    data = draw(hnp.arrays(dtype, (n, c)))
    seq = draw(hnp.arrays(np.int64, (n,)))
    t = draw(hnp.arrays(np.float64, (n,)))
    tr = draw(st.none() | hnp.arrays(np.float64, (n,)))
    name = draw(st.from_regex(r"[a-z][a-z0-9_]{0,47}", fullmatch=True))
    return Chunk.build(name, data, seq, t, tr)


@settings(max_examples=200, deadline=None)
@given(chunk=chunks())
def test_chunk_round_trip_is_bit_exact(chunk: Chunk) -> None:
    payload = encode_chunk(chunk)
    assert is_chunk_payload(payload)
    back = decode_chunk(payload)
    assert back.stream == chunk.stream
    assert _same(back.data, chunk.data)
    assert _same(back.device_seq, chunk.device_seq)
    assert _same(back.t_lsl, chunk.t_lsl)
    assert (back.t_read is None) == (chunk.t_read is None)
    if chunk.t_read is not None:
        assert _same(back.t_read, chunk.t_read)


def test_layout_is_little_endian_and_aligned() -> None:
    ch = Chunk.build("emg", np.array([[1, -2, 3]], dtype=np.int16), np.array([7]), np.array([1.5]), np.array([2.5]))
    p = encode_chunk(ch)
    assert p[:2] == b"AC" and p[2] == 1 and p[3] == 1 and p[4] == 3  # version 1, t_read flag, int16 code
    assert struct.unpack_from("<HII", p, 6) == (3, 1, 3)
    assert p[16:19] == b"emg" and p[19:24] == b"\0" * 5  # name padded to 8
    assert p[24:30] == struct.pack("<hhh", 1, -2, 3) and p[30:32] == b"\0\0"  # data padded to 8
    assert p[32:40] == struct.pack("<q", 7)
    assert p[40:48] == struct.pack("<d", 1.5) and p[48:56] == struct.pack("<d", 2.5)
    assert len(p) == 56


def test_big_endian_input_is_stored_little_endian() -> None:
    data = np.array([[1, 256]], dtype=">i4")
    ch = Chunk.build("x", data, np.array([0]), np.array([0.0]))
    back = decode_chunk(encode_chunk(ch))
    assert back.data.dtype == np.dtype("int32") and back.data.tolist() == [[1, 256]]


def test_decoded_arrays_are_read_only_views() -> None:
    ch = Chunk.build("emg", np.zeros((4, 2), np.float32), np.arange(4), np.zeros(4))
    back = decode_chunk(encode_chunk(ch))
    with pytest.raises(ValueError):
        back.data[0, 0] = 1.0


def test_encode_is_fast_enough_for_emg() -> None:
    ch = Chunk.build("emg", np.zeros((2000, 16), np.int32), np.arange(2000), np.zeros(2000), np.zeros(2000))
    import time

    t0 = time.perf_counter()
    for _ in range(200):
        decode_chunk(encode_chunk(ch))
    per = (time.perf_counter() - t0) / 200
    assert per < 2e-3  # one second of 16-channel 2 kHz EMG in well under its duration (no per-sample Python loop)


def test_every_truncation_and_extension_is_a_clear_error() -> None:
    p = encode_chunk(Chunk.build("emg", np.ones((3, 2), np.int16), np.arange(3), np.zeros(3), np.zeros(3)))
    for cut in range(len(p)):
        with pytest.raises(JournalFormatError):
            decode_chunk(p[:cut])
    with pytest.raises(JournalFormatError, match="implies"):
        decode_chunk(p + b"\0" * 8)


@pytest.mark.parametrize(
    ("index", "value", "match"),
    [(0, ord("X"), "magic"), (2, 9, "version 9"), (3, 0x80, "flags"), (4, 42, "dtype code 42")],
)
def test_header_errors_name_the_problem(index: int, value: int, match: str) -> None:
    p = bytearray(encode_chunk(Chunk.build("emg", np.ones((1, 1), np.int16), np.arange(1), np.zeros(1))))
    p[index] = value
    with pytest.raises(JournalFormatError, match=match):
        decode_chunk(bytes(p))


def test_unsupported_dtype_is_refused_at_encode() -> None:
    ch = Chunk.build("x", np.zeros((1, 1), np.complex64), np.arange(1), np.zeros(1))
    with pytest.raises(JournalFormatError, match="complex64"):
        encode_chunk(ch)


def test_event_round_trip_keeps_nan_and_infinity() -> None:
    ev = Event(
        t_lsl=12.5,
        utc="2026-01-01T00:00:00.000Z",
        kind="device",
        name="frame.crc_failed",
        stream="emg",
        step="rest",
        payload={"x": float("nan"), "y": [float("inf"), -1], "s": "é", "n": None},
    )
    back = decode_event(encode_event(ev))
    assert back.model_dump(exclude={"payload"}) == ev.model_dump(exclude={"payload"})
    assert math.isnan(back.payload["x"]) and back.payload["y"] == [float("inf"), -1]
    assert back.payload["s"] == "é" and back.payload["n"] is None


class _Meta(BaseModel):
    scan_id: str
    when: datetime
    vertices: int
    shape: tuple[int, int]


def test_json_round_trip_for_models_and_dicts() -> None:
    m = _Meta(scan_id="s1", when=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), vertices=123, shape=(3, 4))
    assert decode_json(encode_json(m), _Meta) == m
    d = {"a": 1, "b": [1.5, "x"], "np": np.int64(5), "arr": np.arange(3)}
    assert decode_json(encode_json(d)) == {"a": 1, "b": [1.5, "x"], "np": 5, "arr": [0, 1, 2]}


@pytest.mark.parametrize(
    ("payload", "match"),
    [(b"\xff\xfe", "does not decode"), (b"[1, 2]", "expected an object"), (b'{"t_lsl": "x"}', "not a valid Event")],
)
def test_json_decode_errors_are_clear(payload: bytes, match: str) -> None:
    with pytest.raises(JournalFormatError, match=match):
        decode_event(payload)


def test_json_encode_refuses_unserialisable() -> None:
    with pytest.raises(JournalFormatError, match="cannot encode"):
        encode_json({"f": object()})
