"""The versioned protocol file: the shipped A-MUSE protocol, its hash, and what a protocol file may not say."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import pytest

from sessions.protocol import (DEFAULT_PROTOCOL, ProtocolError, default_protocol, load_protocol, parse_protocol)
from sessions.subject import VisitCode
from tests.sessions.runner_fakes import TEST_PROTOCOL

STAB = {"stab_eyes_open", "stab_eyes_closed"}


def test_default_protocol_is_the_shipped_file_with_its_hash() -> None:
    pf = default_protocol()
    raw = resources.files("sessions.protocol").joinpath("a_muse.toml").read_bytes()
    assert pf.sha256 == hashlib.sha256(raw).hexdigest()
    assert pf.text.encode("utf-8") == raw, "the text stored in a visit must be the file's exact bytes"
    assert pf.source == "default" and pf.protocol.name == "A-MUSE" and pf.protocol.protocol_version == "1.0"
    stamp = pf.stamp()
    assert (stamp.name, stamp.version, stamp.sha256, stamp.source) == ("A-MUSE", "1.0", pf.sha256, "default")
    assert DEFAULT_PROTOCOL is pf.protocol


def test_stabilometry_only_at_d0_w12_w24_and_the_injection_only_at_d0() -> None:
    names = {v: [s.name for s in DEFAULT_PROTOCOL.for_visit(v)] for v in VisitCode}
    for v in (VisitCode.D0, VisitCode.W12, VisitCode.W24):
        assert STAB <= set(names[v])
    assert not STAB & set(names[VisitCode.W4])
    assert "injection" in names[VisitCode.D0] and all("injection" not in names[v] for v in VisitCode if v != "D0")
    # order is the protocol's: scans before the jaw battery, eyes open before eyes closed, injection last
    d0 = names[VisitCode.D0]
    assert d0.index("scan_rest") < d0.index("emg_rest") < d0.index("stab_eyes_open") < d0.index("stab_eyes_closed")
    assert d0[-1] == "injection"
    assert "preflight" not in d0, "the pre-flight is the runner's phase, not a protocol step"


def test_every_device_step_has_instructions_and_the_step_specific_checks() -> None:
    for s in DEFAULT_PROTOCOL.steps:
        assert s.instructions.strip(), f"{s.name} has no instructions for the technician"
    assert DEFAULT_PROTOCOL.step("jaw_max_opening").qc.min_opening_mm == 10.0
    assert DEFAULT_PROTOCOL.step("stab_eyes_closed").qc.min_load_kg == 20.0
    assert DEFAULT_PROTOCOL.step("scan_rest").expected_scans == 3
    assert DEFAULT_PROTOCOL.step("photos").expected_scans == 1
    assert DEFAULT_PROTOCOL.step("emg_clench_icp").total_s == 24.0  # rests between the 3 clenches included
    assert DEFAULT_PROTOCOL.step("stab_eyes_open").total_s == 51.2
    assert DEFAULT_PROTOCOL.stream_qc("emg_a").adc_limits == (0, 1023)


def test_a_comment_changes_the_hash_but_not_the_model() -> None:
    a = parse_protocol(TEST_PROTOCOL.encode(), source="a.toml")
    b = parse_protocol(("# site copy\n" + TEST_PROTOCOL).encode(), source="a.toml")
    assert a.protocol == b.protocol and a.sha256 != b.sha256


def test_load_names_the_file_not_its_path(tmp_path: Path) -> None:
    p = tmp_path / "site" / "protocol-v2.toml"
    p.parent.mkdir()
    p.write_text(TEST_PROTOCOL)
    pf = load_protocol(p)
    assert pf.source == "protocol-v2.toml" and str(tmp_path) not in pf.stamp().model_dump_json()
    with pytest.raises(ProtocolError, match=r"cannot be read"):
        load_protocol(tmp_path / "missing.toml")


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('title = "Rest"', 'title = "Rest"\narm = "B"'), r"key 'steps\.2\.arm' is refused: the "
     r"randomisation arm is never asked for, stored or shown"),
    (lambda t: 'randomisation_group = "A"\n' + t, r"'randomisation_group' is refused"),
    (lambda t: t.replace("[qc]", "[qc]\ntreatment = 1"), r"'qc\.treatment' is refused"),
    (lambda t: t.replace('title = "Rest"', 'title = "Rest"\nduration = 3'), r"steps\.2\.duration: Extra inputs"),
    (lambda t: t.replace('name = "emg_rest"', 'name = "questionnaires"'), r"listed twice"),
    (lambda t: t.replace('name = "emg_rest"', 'name = "preflight"'), r"'preflight' is reserved"),
    (lambda t: t.replace("min_opening_mm = 10.0", "min_load_kg = 10.0"), r"qc\.min_load_kg applies to "
     r"stabilometry steps, this one is emg_jaw"),
    (lambda t: t.replace('protocol_version = "0.9"', 'protocol_version = "latest"'), r"protocol_version"),
    (lambda t: t.replace("repetitions = 2", "repetitions = 0"), r"steps\.1\.repetitions"),
    (lambda t: t.replace('visits = ["D0", "W12", "W24"]', 'visits = ["D0", "W6"]'), r"visits"),
    (lambda t: t.replace("adc_limits = [0, 1023]", "adc_limits = [1023, 0]"), r"low < high"),
    (lambda t: t + "\n[[steps]\n", r"not valid TOML"),
])
def test_a_bad_protocol_is_refused_in_one_line(edit, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProtocolError, match=message) as err:
        parse_protocol(edit(TEST_PROTOCOL).encode(), source="site.toml")
    assert str(err.value).startswith("protocol site.toml: ") and "\n" not in str(err.value)


def test_not_utf8_is_refused() -> None:
    with pytest.raises(ProtocolError, match=r"not UTF-8"):
        parse_protocol(b'name = "\xff"\n', source="x.toml")
