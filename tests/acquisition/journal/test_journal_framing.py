from __future__ import annotations

import struct
import zlib

import pytest

from acquisition.journal.framing import (
    HEADER_BYTES,
    MAGIC,
    MAX_RECORD_BYTES,
    FrameStatus,
    check_frame,
    frame,
    frame_header,
)


def test_layout_is_magic_le_length_crc_over_length_and_payload() -> None:
    payload = b"hello journal"
    f = frame(payload)
    assert f[:4] == MAGIC == b"AMJ1"
    assert f[4:8] == struct.pack("<I", len(payload))
    assert f[8:12] == struct.pack("<I", zlib.crc32(f[4:8] + payload))
    assert f[HEADER_BYTES:] == payload
    assert check_frame(f, 0) == (FrameStatus.OK, len(payload))


def test_empty_payload_round_trips() -> None:
    f = frame(b"")
    assert len(f) == HEADER_BYTES
    assert check_frame(f, 0) == (FrameStatus.OK, 0)


def test_every_strict_prefix_is_incomplete_not_bad() -> None:
    f = frame(b"x" * 40)
    for cut in range(1, len(f)):
        assert check_frame(f[:cut], 0)[0] is FrameStatus.INCOMPLETE, cut


def test_crc_covers_the_length_field() -> None:
    f = bytearray(frame(b"abcdefgh") + frame(b"next"))
    f[4] ^= 0x01  # length 8 -> 9: still inside the buffer, but the CRC must catch it
    assert check_frame(bytes(f), 0)[0] is FrameStatus.BAD


def test_payload_and_magic_flips_are_bad() -> None:
    for i in (0, 3, 9, HEADER_BYTES + 2):
        f = bytearray(frame(b"some payload"))
        f[i] ^= 0x40
        assert check_frame(bytes(f), 0)[0] is FrameStatus.BAD, i


def test_absurd_length_is_bad_without_waiting_for_more_bytes() -> None:
    head = MAGIC + struct.pack("<I", MAX_RECORD_BYTES + 1)
    assert check_frame(head, 0)[0] is FrameStatus.BAD
    assert check_frame(head + b"\0" * 4, 0)[0] is FrameStatus.BAD


def test_writer_side_refuses_oversized_records() -> None:
    class Huge:
        def __len__(self) -> int:
            return MAX_RECORD_BYTES + 1

    with pytest.raises(ValueError, match="MAX_RECORD_BYTES"):
        frame_header(Huge())  # type: ignore[arg-type]
