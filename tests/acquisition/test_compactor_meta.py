"""Typed journal records, and journal metadata that is no single point of failure: a damaged visit record,
stream description or calibration record never drops intact samples, and every such loss fails the QC."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from acquisition.journal import Journal, JournalFormatError, encode_json
from acquisition.journal.records import (
    CalibrationRecord,
    CloseRecord,
    CountersRecord,
    OutcomesRecord,
    RecoveredRecord,
    StreamRecord,
    VisitRecord,
    decode_meta,
    encode_copy,
    encode_meta,
    is_copy_payload,
)
from acquisition.journal import is_chunk_payload
from acquisition.visitfile.compactor import Compactor, JournalUnusable
from tests.acquisition.journal_builder import CALIBRATION, LAST_EVENT, attrs, expected_data, flip, spec, write_journal

# meta log order written by journal_visit / journal_stream: visit, calibration, stream emg, stream jaw
META_VISIT, META_CALIBRATION, META_EMG = 0, 1, 2


def _build(tmp_path: Path) -> tuple[Path, dict]:
    jdir = tmp_path / "journal"
    partial = tmp_path / "v.h5.partial"
    comp = Compactor(jdir, partial)
    comp.run_once(final=True)
    comp.finish({"closed_utc": comp.closed_utc or comp.last_event_utc, "state": "recovered"})
    return partial, comp.qc_summary()["journal_damage"]


def _assert_ramp(f: h5py.File, name: str, c: int, n: int) -> None:
    seq = f[f"streams/{name}/device_seq"][:]
    assert np.array_equal(seq, np.arange(n))
    assert np.array_equal(f[f"streams/{name}/data"][:], expected_data(seq, c))


def test_every_record_type_round_trips_and_anything_else_is_refused_by_name() -> None:
    recs = [VisitRecord(attrs=attrs(), calibration_records=2), StreamRecord(spec=spec("emg", 3, 1000.0)),
            CalibrationRecord(records=CALIBRATION), CountersRecord(sources={"emg": {"frames": 3}}),
            OutcomesRecord(rows=[("emg_rest", "rms", 1.5, "uV", "v1")]), CloseRecord(closed_utc=LAST_EVENT),
            RecoveredRecord(utc=LAST_EVENT, reason="x")]
    for r in recs:
        assert decode_meta(encode_meta(r)) == r or r.type == "calibration"
        assert decode_meta(encode_copy(r)).type == r.type
        assert is_copy_payload(encode_copy(r)) and not is_copy_payload(encode_meta(r))
        assert not is_chunk_payload(encode_copy(r))
    cal = decode_meta(encode_meta(CalibrationRecord(records=CALIBRATION)))
    assert isinstance(cal, CalibrationRecord) and math.isnan(cal.records[0]["offset"][1])  # NaN kept, not null
    # a dict written by another writer decodes to the same model
    assert decode_meta(encode_json({"type": "close", "closed_utc": "t"})) == CloseRecord(closed_utc="t")
    with pytest.raises(JournalFormatError, match="'zzz'"):
        decode_meta(b'{"type":"zzz"}')
    with pytest.raises(JournalFormatError, match="close.closed_utc"):
        decode_meta(b'{"type":"close"}')
    with pytest.raises(JournalFormatError, match="Invalid JSON"):
        decode_meta(b"\x00garbage")


def test_a_clean_journal_reports_no_damage(tmp_path: Path) -> None:
    write_journal(tmp_path / "journal")
    partial, dmg = _build(tmp_path)
    assert dmg == {"ok": True, "bytes_skipped": {}, "lost_records": [], "repaired": [], "rejected_records": {},
                   "problems": []}
    with h5py.File(partial, "r") as f:
        _assert_ramp(f, "emg", 3, 3000)
        assert f.attrs["closed_utc"] == LAST_EVENT
        assert sorted(f["calibration"].attrs) == ["emg_noise", "tare_plate"]
        assert json.loads(f["qc"].attrs["journal_damage"])["ok"] is True


def test_flipped_bit_in_the_first_meta_record_rebuilds_from_the_copy(tmp_path: Path) -> None:
    write_journal(tmp_path / "journal")
    flip(tmp_path / "journal" / "meta", META_VISIT)
    partial, dmg = _build(tmp_path)
    with h5py.File(partial, "r") as f:
        assert f.attrs["subject"] == "ABC-001" and f.attrs["operator"] == "tech1"
        _assert_ramp(f, "emg", 3, 3000)
        _assert_ramp(f, "jaw", 2, 300)
    assert dmg["ok"] is False
    assert dmg["bytes_skipped"]["meta"] > 0
    assert dmg["repaired"] == ["visit record: lost in meta, taken from its copy in meta-copy"]


def test_flipped_bit_in_a_stream_description_keeps_every_sample_and_fails_the_qc(tmp_path: Path) -> None:
    write_journal(tmp_path / "journal")
    flip(tmp_path / "journal" / "meta", META_EMG)
    partial, dmg = _build(tmp_path)
    with h5py.File(partial, "r") as f:
        _assert_ramp(f, "emg", 3, 3000)
        assert json.loads(f["streams/emg"].attrs["channels"]) == ["c0", "c1", "c2"]  # the real description
    assert dmg["ok"] is False
    assert dmg["repaired"] == ["streams/emg description: lost in meta, taken from its copy in streams/emg"]


def test_both_descriptions_lost_keeps_the_samples_under_a_placeholder(tmp_path: Path) -> None:
    write_journal(tmp_path / "journal")
    flip(tmp_path / "journal" / "meta", META_EMG)
    flip(tmp_path / "journal" / "streams" / "emg", 0)
    partial, dmg = _build(tmp_path)
    with h5py.File(partial, "r") as f:
        _assert_ramp(f, "emg", 3, 3000)
        assert "placeholder" in f["streams/emg"].attrs["scale_source"]
        assert f["streams/emg"].attrs["n_samples"] == 3000
    assert dmg["ok"] is False
    assert ("streams/emg description: lost in meta and in its log; 3000 samples kept under a placeholder "
            "description (channel names, units and scale unknown)") in dmg["lost_records"]
    assert set(dmg["bytes_skipped"]) == {"meta", "streams/emg"}


def test_calibration_lost_in_meta_comes_from_the_copy(tmp_path: Path) -> None:
    write_journal(tmp_path / "journal")
    flip(tmp_path / "journal" / "meta", META_CALIBRATION)
    partial, dmg = _build(tmp_path)
    with h5py.File(partial, "r") as f:
        assert sorted(f["calibration"].attrs) == ["emg_noise", "tare_plate"]
    assert dmg["repaired"] == ["calibration record: lost in meta, taken from its copy in meta-copy"]


def test_calibration_lost_in_both_copies_is_a_qc_failure_not_an_empty_group(tmp_path: Path) -> None:
    write_journal(tmp_path / "journal")
    flip(tmp_path / "journal" / "meta", META_CALIBRATION)
    flip(tmp_path / "journal" / "meta-copy", 1)
    partial, dmg = _build(tmp_path)
    with h5py.File(partial, "r") as f:
        assert len(f["calibration"].attrs) == 0
    assert dmg["ok"] is False
    assert dmg["lost_records"][0].startswith("calibration: 2 record(s) in force, the calibration record was lost")


def test_no_visit_record_anywhere_is_refused_before_any_file_is_made(tmp_path: Path) -> None:
    write_journal(tmp_path / "journal")
    flip(tmp_path / "journal" / "meta", META_VISIT)
    flip(tmp_path / "journal" / "meta-copy", 0)
    comp = Compactor(tmp_path / "journal", tmp_path / "v.h5.partial")
    with pytest.raises(JournalUnusable, match="no readable visit record"):
        comp.run_once(final=True)
    assert not (tmp_path / "v.h5.partial").exists()


def test_unknown_and_malformed_records_are_counted_and_logged(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    jdir = tmp_path / "journal"
    write_journal(jdir)
    with Journal(jdir) as j:
        meta = j.log("meta")
        meta.append(b'{"type":"zzz","x":1}')
        meta.append(b'{"type":"close"}')
        meta.append(encode_meta(RecoveredRecord(utc="2026-01-05T10:00:00.000000Z")))
        j.log("events").append(b'{"not":"an event"}')
    comp = Compactor(jdir, tmp_path / "v.h5.partial")
    comp.run_once(final=True)
    comp.finish({"closed_utc": comp.last_event_utc, "state": "recovered"})
    dmg = comp.qc_summary()["journal_damage"]
    assert dmg["ok"] is False
    assert dmg["rejected_records"] == {"events": 1, "meta": 2}
    assert len(dmg["problems"]) == 3 and any("'zzz'" in p for p in dmg["problems"])
    assert capsys.readouterr().err.count("journal.record_rejected") == 3
    with h5py.File(tmp_path / "v.h5.partial", "r") as f:  # the `recovered` record is handled, not dropped
        assert f.attrs["recovered_utc"] == "2026-01-05T10:00:00.000000Z"
