"""CRC, command codec, reply reader and decoders (pure, no transport)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.jaw.aurora import commands as cmds
from drivers.jaw.aurora.codec import ReplyFormatError, error_code, parse_phinf_basic, parse_phsr, parse_tx
from drivers.jaw.aurora.reply_reader import ReplyReader
from drivers.jaw.aurora.crc import crc16, crc_hex
from drivers.jaw.aurora.errors import describe_error
from drivers.jaw.aurora.sim_replies import transform_text
from drivers.jaw.aurora.simulator import AuroraSimulator


def framed(text: str) -> bytes:
    b = text.encode()
    return b + crc_hex(b) + b"\r"


def test_crc_known_vectors() -> None:
    # ndicapi's probe exchange ("INIT:E3A5" -> "OKAYA896"), the reset reply, and the CRC-16/ARC check value
    assert crc_hex(b"INIT:") == b"E3A5"
    assert crc_hex(b"OKAY") == b"A896"
    assert crc_hex(b"RESET") == b"BE6F"
    assert crc16(b"123456789") == 0xBB3D


def test_command_forms() -> None:
    assert cmds.build("TX", "0001") == b"TX 0001\r"
    assert cmds.build("INIT") == b"INIT\r"
    assert cmds.build("INIT", colon=True) == b"INIT:E3A5\r"
    colon = cmds.build("PENA", "0AD", colon=True)
    assert cmds.parse(colon[:-1]) == cmds.ParsedCommand("PENA", "0AD", True)
    assert cmds.parse(b"PENA 0AD") == cmds.ParsedCommand("PENA", "0AD", False)
    with pytest.raises(cmds.CommandSyntaxError) as e:
        cmds.parse(b"TX:00010000")
    assert e.value.code == 0x04
    assert cmds.comm_params(115200) == "50000"
    with pytest.raises(ValueError, match="not a Combined API COMM rate"):
        cmds.comm_params(12345)


def test_error_messages() -> None:
    assert describe_error(0x0C) == "ERROR0C: Command is invalid while in the current mode"
    assert "unrecognised error code 0x77" in describe_error(0x77)
    assert error_code("ERROR0E") == 0x0E
    assert error_code("OKAY") is None


def _tx_text() -> str:
    q = np.array([0.7071, 0.0, 0.7071, 0.0])
    t = np.array([12.34, -5.6, -180.25])
    rec = transform_text(q, t, 0.0512)
    return "03" + f"0A{rec}00000031000012AB\n" + "0BMISSING00000071000012AB\n" + "0CDISABLED\n" + "0000"


def test_parse_tx_transform_missing_disabled() -> None:
    rep = parse_tx(_tx_text())
    a, b, c = rep.tools
    assert (a.handle, a.state, a.q, a.t, a.error) == (0x0A, "ok", (7071, 0, 7071, 0), (1234, -560, -18025), 512)
    assert (a.port_status, a.frame) == (0x31, 0x12AB)
    assert (b.state, b.port_status, b.frame) == ("missing", 0x71, 0x12AB)
    assert (c.state, c.frame) == ("disabled", None)
    assert rep.frame == 0x12AB and rep.system_status == 0


def test_parse_tx_rejects_bad_layout() -> None:
    good = _tx_text()
    for bad in (good.replace("03", "04", 1), good[:-1], good.replace("+07071", "+07X71", 1), "0"):
        with pytest.raises(ReplyFormatError):
            parse_tx(bad)


def test_phsr_phinf() -> None:
    assert parse_phsr("020A0010B031") == [(0x0A, 0x001), (0x0B, 0x031)]
    with pytest.raises(ReplyFormatError):
        parse_phsr("020A001")
    info = parse_phinf_basic("0A000000NDI         001" + "3C5A11B0" + "31")
    assert info.serial == "3C5A11B0" and info.port_status == 0x31


def test_reader_splits_checks_and_recovers() -> None:
    r = ReplyReader()
    good = framed("OKAY")
    bad = good[:-2] + b"0\r"  # corrupt CRC
    out = r.feed(good + bad + b"\x01\xfe\x93" + framed(_tx_text()) + good[:3])
    assert out[0] == "OKAY" and out[1] == _tx_text()
    assert r.crc_errors == 1 and r.resyncs == 1 and r.garbage_bytes >= 3
    assert r.feed(good[3:]) == ["OKAY"]
    kinds = [k for k, _ in r.take_faults()]
    assert "frame.crc_failed" in kinds and "stream.resynced" in kinds


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_reader_random_bytes_only_counted(chunks: list[bytes]) -> None:
    r = ReplyReader()
    for c in chunks:
        for text in r.feed(c):  # whatever comes out passed its CRC and is printable
            assert all(32 <= ord(ch) < 127 or ch == "\n" for ch in text)
            try:
                parse_tx(text)
            except ReplyFormatError:
                pass
    r.take_faults()
    # a good reply after any junk (once a CR has flushed it) is still read
    assert r.feed(b"\r" + framed("OKAY"))[-1] == "OKAY"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=10, max_codepoint=126), max_size=200))
def test_parse_tx_random_text_only_format_errors(text: str) -> None:
    try:
        parse_tx(text)
    except ReplyFormatError:
        pass
