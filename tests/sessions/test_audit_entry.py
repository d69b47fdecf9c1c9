"""The audit entry's canonical encoding and hash, and the payload rules (small, plain JSON, no patient identity)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.audit.entry import (FORMAT, ZERO_HASH, AuditLineError, AuditRef, canonical, decode_line, parse_line,
                                  seal_entry)
from sessions.audit.payload_rules import MAX_PAYLOAD_BYTES, AuditPayloadRefused, check_payload


def _entry(**over: object):  # type: ignore[no-untyped-def]
    fields: dict[str, object] = dict(seq=3, utc="2026-11-25T08:00:01.000000Z", t_lsl=1234.5, operator="tech1",
                                     uid=1000, action="step.skipped", payload={"step": "rest", "reason": "pain"},
                                     chain="visit/ABC-001_D0", prev="a" * 64)
    fields.update(over)
    return seal_entry(**fields)  # type: ignore[arg-type]


def test_the_hash_is_sha256_of_the_line_without_its_hash_member() -> None:
    """Documented so a verifier in another language needs no JSON re-encoding: cut the member out of the text."""
    e = _entry()
    line = e.line()
    body = line.replace(f'"hash":"{e.hash}",', "")
    assert hashlib.sha256(f"{FORMAT}\n{body}".encode()).hexdigest() == e.hash
    assert line == canonical(json.loads(line)) and line.isascii()


def test_a_stored_line_reads_back_as_the_same_entry() -> None:
    e = _entry(ref=AuditRef(chain="visit/ABC-001_D0", seq=2, hash="b" * 64), payload={"note": "façade ok"})
    assert parse_line(e.line()) == e
    assert "\\u00e7" in e.line()  # non-ASCII text escaped: the line is ASCII


@pytest.mark.parametrize(("change", "says"), [
    (lambda d: d.update(payload={"step": "jaw"}), "does not give its hash"),
    (lambda d: d.update(seq=4), "does not give its hash"),
    (lambda d: d.update(hash="c" * 64), "does not give its hash"),
])
def test_a_changed_field_is_an_edit(change, says) -> None:  # type: ignore[no-untyped-def]
    d = json.loads(_entry().line())
    change(d)
    stored = decode_line(canonical(d))
    assert stored.problem is not None and says in stored.problem


def test_a_rewritten_but_equal_line_is_not_canonical() -> None:
    d = json.loads(_entry().line())
    stored = decode_line(json.dumps(d, indent=1))
    assert stored.problem is not None and "canonical" in stored.problem


@pytest.mark.parametrize(("line", "says"), [
    ('{"seq": 1', "not JSON"),
    ("[1, 2]", "not an entry"),
    ('{"seq": 1}', "fields"),
])
def test_a_line_that_is_not_an_entry_is_refused(line: str, says: str) -> None:
    with pytest.raises(AuditLineError, match=says):
        decode_line(line)


def test_an_entry_with_a_bad_field_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="action"):
        _entry(action="Step Skipped")
    with pytest.raises(ValueError, match="t_lsl"):
        _entry(t_lsl=float("nan"))
    with pytest.raises(ValueError, match="prev"):
        _entry(prev=ZERO_HASH[:-1])


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                       st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
_payloads = st.dictionaries(st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True),
                            st.recursive(_json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(
                                st.from_regex(r"[a-z]{1,8}", fullmatch=True), c, max_size=3), max_leaves=8),
                            max_size=5)


@given(_payloads, st.floats(allow_nan=False, allow_infinity=False) | st.none())
@settings(max_examples=100, deadline=None)
def test_any_json_payload_round_trips_and_hashes_the_same(payload: dict[str, Any], t_lsl: float | None) -> None:
    e = _entry(payload=payload, t_lsl=t_lsl)
    again = decode_line(e.line())
    assert again.problem is None and again.entry == e and again.computed == e.hash


# -- payload rules -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("payload", [
    {"name": "DUPONT"}, {"first_name": "x"}, {"patient_name": "x"}, {"date_of_birth": "1960-01-01"},
    {"phone": "x"}, {"email": "x"}, {"nir": "x"}, {"address": "x"}, {"detail": {"surname": "x"}},
    {"Reason": "x"}, {"raison du report": "x"},
])
def test_identity_keys_and_free_form_keys_are_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(AuditPayloadRefused, match="key"):
        check_payload(payload)


@pytest.mark.parametrize(("payload", "rule"), [
    ({"reason": "called back on 06 12 34 56 78"}, "9 or more digits"),
    ({"note": "NIR 1 84 12 75 123 456 78"}, "9 or more digits"),
    ({"comment": "mail marie.dupont@example.org"}, "e-mail"),
    ({"reason": "line one\nline two"}, "control character"),
    ({"subject": "Marie Dupont"}, "pseudonym"),
    ({"step": "x" * 201}, "at most 200"),
    ({"reason": "x" * 501}, "at most 500"),
    ({"values": [float("inf")]}, "NaN or infinity"),
    ({"when": object()}, "not plain JSON"),
])
def test_identifying_or_oversized_values_are_refused_without_echoing_them(payload: dict[str, Any], rule: str) -> None:
    with pytest.raises(AuditPayloadRefused, match=re.escape(rule)) as err:
        check_payload(payload)
    for v in payload.values():
        if isinstance(v, str) and len(v) > 3:
            assert v not in str(err.value)  # the value may be the identifying text: never echoed


def test_a_payload_over_the_size_bound_is_refused() -> None:
    big = {f"k{i}": "x" * 150 for i in range(40)}
    with pytest.raises(AuditPayloadRefused, match=f"at most {MAX_PAYLOAD_BYTES}"):
        check_payload(big)


def test_pseudonyms_serials_hashes_and_ordinary_payloads_pass() -> None:
    ok = {"subject": "ABC-001", "visit": "W12", "device_serial": "123456789012", "sha256": "1" * 64,
          "step": "jaw_max_opening", "repetition": 2, "reason": "electrode re-placed after 3 attempts",
          "gates": [{"gate": "emg_noise", "passed": False, "value_uv": 12.5}], "stage": "pre", "source": "emg_a"}
    assert check_payload(ok) == ok
    assert check_payload({"subject": "XY-12"}, subject_pattern=r"[A-Z]{2}-\d{2}") == {"subject": "XY-12"}
