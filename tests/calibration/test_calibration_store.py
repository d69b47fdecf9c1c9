"""The calibration store: append-only, supersede chains, in force at a time, concurrent writers, and every kind of
damage said in one line naming the file (never a damaged record skipped)."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import stat
import threading
from pathlib import Path

import pytest

from calibration.records import CalibrationRecord, new_record
from calibration.store import CalibrationStore, CalibrationStoreDamaged, CalibrationStoreError

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone.utc)


def rec(kind: str = "plate-tare", serial: str = "CB-1", *, at: dt.datetime = T0, days: float = 1.0,
        reasons: tuple[str, ...] = (), offset: float = 0.1) -> CalibrationRecord:
    return new_record(kind=kind, device_serial=serial, device_model="AMUSE-CB4", performed_by="tech1",  # type: ignore[arg-type]
                      valid_for=dt.timedelta(days=days), values={"offset_kg": {"TR": offset}}, reasons=reasons,
                      now=at)


def test_append_gives_ids_sequence_and_supersede_chain(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path)
    assert store.records() == [] and store.in_force() == []
    a, pa = store.append(rec(at=T0))
    b, pb = store.append(rec(at=T0 + dt.timedelta(hours=1), offset=0.2))
    c, _ = store.append(rec("plate-mass", at=T0, days=30))
    other, _ = store.append(rec(serial="CB-2", at=T0))
    assert [p.name for p in (pa, pb)] == ["000001_plate-tare.json", "000002_plate-tare.json"]
    assert a.id == f"plate-tare:CB-1:{a.performed_utc}" and a.supersedes is None
    assert b.supersedes == a.id and c.supersedes is None and other.supersedes is None
    assert store.latest("plate-tare", "CB-1") == b
    assert store.latest("plate-tare", "CB-1", at=T0 + dt.timedelta(minutes=30)) == a
    assert store.latest("plate-tare", "CB-9") is None
    at = T0 + dt.timedelta(hours=2)
    assert [r.id for r in store.in_force(at=at)] == [c.id, b.id, other.id]  # by kind, then serial
    assert [r.id for r in store.in_force(["plate-tare"], at=at)] == [b.id, other.id]
    # one day later the tares have expired, the 30-day mass check holds
    assert [r.id for r in store.in_force(at=T0 + dt.timedelta(days=1, hours=2))] == [c.id]
    assert store.path_of(b.id) == pb


def test_records_are_read_only_and_never_rewritten(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path)
    _, p1 = store.append(rec())
    before = p1.read_bytes()
    store.append(rec(at=T0 + dt.timedelta(seconds=1)))
    assert p1.read_bytes() == before
    assert stat.S_IMODE(p1.stat().st_mode) == 0o444
    assert not [n for n in os.listdir(store.root) if n.startswith(".tmp-")]


def test_same_second_records_get_distinct_ids(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path)
    a, _ = store.append(rec())
    b, _ = store.append(rec())  # same kind, device and performed_utc
    assert b.id == a.id + "#2" and b.supersedes == a.id


def test_a_failed_newer_record_supersedes_a_passed_one(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path)
    store.append(rec(at=T0))
    failed, _ = store.append(rec(at=T0 + dt.timedelta(hours=1), reasons=("cell TR offset beyond",)))
    assert not failed.passed
    assert store.in_force(at=T0 + dt.timedelta(hours=2)) == []  # the plate is out of calibration now
    assert len(store.in_force(at=T0 + dt.timedelta(minutes=30))) == 1  # before the failure it was in force
    passed, _ = store.append(rec(at=T0 + dt.timedelta(hours=3)))
    assert store.in_force(at=T0 + dt.timedelta(hours=4)) == [passed]


def _damage(path: Path, text: str) -> None:
    os.chmod(path, 0o644)
    path.write_text(text)


def _three(tmp_path: Path) -> tuple[CalibrationStore, list[Path]]:
    store = CalibrationStore(tmp_path)
    paths = [store.append(rec(at=T0 + dt.timedelta(hours=i), offset=0.1 * i))[1] for i in range(3)]
    return store, paths


@pytest.mark.parametrize("damage, why", [
    ("truncated", "not valid JSON"),
    ("value", "SHA-256 of the record"),
    ("format", "expected format"),
    ("invalid", "record does not validate"),
])
def test_a_damaged_record_is_an_error_naming_the_file(tmp_path: Path, damage: str, why: str) -> None:
    store, paths = _three(tmp_path)
    text = paths[1].read_text()
    doc = json.loads(text)
    if damage == "truncated":
        _damage(paths[1], text[: len(text) // 2])
    elif damage == "value":  # still valid JSON, still a valid record: only the digest tells
        doc["record"]["values"]["offset_kg"]["TR"] = 0.15
        _damage(paths[1], json.dumps(doc))
    elif damage == "format":
        doc["format"] = "something-else"
        _damage(paths[1], json.dumps(doc))
    else:  # digest recomputed by whoever edited it, but the record itself is not one
        import hashlib

        from calibration.store import _canonical

        doc["record"]["passed"] = "maybe"
        doc["sha256"] = hashlib.sha256(_canonical(doc["record"])).hexdigest()
        _damage(paths[1], json.dumps(doc))
    for call in (store.records, store.in_force, lambda: store.latest("plate-tare", "CB-1")):
        with pytest.raises(CalibrationStoreDamaged) as err:
            call()
        assert err.value.path == paths[1] and why in str(err.value)
        assert "\n" not in str(err.value)
    with pytest.raises(CalibrationStoreDamaged):  # nothing is appended onto a damaged store
        store.append(rec(at=T0 + dt.timedelta(days=1)))
    assert len(os.listdir(store.root)) == 4  # the three records and the lock


def test_a_removed_record_breaks_the_sequence(tmp_path: Path) -> None:
    store, paths = _three(tmp_path)
    os.unlink(paths[1])
    with pytest.raises(CalibrationStoreDamaged, match="record 2 is missing"):
        store.in_force()


def test_a_record_replaced_by_hand_breaks_the_chain(tmp_path: Path) -> None:
    store, paths = _three(tmp_path)
    # a well-formed record, digest and all, put in place of record 2: its supersedes link gives it away
    import hashlib

    from calibration.store import _canonical

    doc = json.loads(paths[1].read_text())
    body = rec(at=T0 + dt.timedelta(hours=1), offset=0.5).model_dump(mode="json")
    body["id"] = doc["record"]["id"]  # same id, but no supersedes
    doc["record"], doc["sha256"] = body, hashlib.sha256(_canonical(body)).hexdigest()
    _damage(paths[1], json.dumps(doc))
    with pytest.raises(CalibrationStoreDamaged, match="the chain is broken") as err:
        store.records()
    assert err.value.path == paths[1]


def test_stray_file_is_refused_but_temporary_files_are_not_records(tmp_path: Path) -> None:
    store, _ = _three(tmp_path)
    (store.root / ".tmp-123-456").write_text("{half a rec")  # a writer killed before its link: not a record
    assert len(store.records()) == 3
    (store.root / "000004_plate-tare.json.bak").write_text("{}")
    with pytest.raises(CalibrationStoreDamaged, match="not a record file name"):
        store.records()


def test_a_store_path_that_is_a_file_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "calibration").write_text("")
    with pytest.raises(CalibrationStoreError, match="is not a directory"):
        CalibrationStore(tmp_path).records()


def _writer(data_dir: str, who: int, n: int) -> None:
    store = CalibrationStore(Path(data_dir))
    for i in range(n):
        store.append(rec(at=T0 + dt.timedelta(seconds=who * 100 + i), offset=who + i / 10))


def test_concurrent_writers_keep_one_linear_chain(tmp_path: Path) -> None:
    """4 processes x 6 records of one device, and 2 threads: every record stored once, sequence without a hole,
    each record superseding exactly the one before it."""
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 6)) for w in range(4)]
    threads = [threading.Thread(target=_writer, args=(str(tmp_path), 10 + w, 3)) for w in range(2)]
    for p in procs:
        p.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    records = CalibrationStore(tmp_path).records()  # checks sequence and chain
    assert len(records) == 4 * 6 + 2 * 3
    assert len({r.id for r in records}) == len(records)
    assert [r.supersedes for r in records[1:]] == [r.id for r in records[:-1]]


# -- per-visit kinds, expiry, the audit log line ---------------------------------------------------------------
@pytest.mark.parametrize("kind", ["jaw-reference", "emg-noise"])
def test_a_per_visit_kind_is_refused_by_the_store(tmp_path: Path, kind: str) -> None:
    store = CalibrationStore(tmp_path)
    with pytest.raises(CalibrationStoreError, match=f"{kind} is measured on the patient for one visit") as exc:
        store.append(rec(kind, "BIT-A"))
    assert "\n" not in str(exc.value) and "record_calibration" in str(exc.value)
    assert store.records() == []


def test_a_per_visit_record_in_an_older_store_is_never_in_force(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A store written before the store refused them may hold one: it is read (the chain holds) but never given
    to a visit: it is another visit's patient."""
    store = CalibrationStore(tmp_path)
    monkeypatch.setattr("calibration.store.PER_VISIT_KINDS", frozenset())  # the store as it was
    jaw, _ = store.append(rec("jaw-reference", "P6-1"))
    tare, _ = store.append(rec())
    monkeypatch.undo()
    at = T0 + dt.timedelta(hours=1)
    assert [r.id for r in store.records()] == [jaw.id, tare.id]
    assert store.in_force(at=at) == [tare]
    assert store.in_force(["jaw-reference"], at=at) == []


def test_a_record_is_expired_from_the_instant_it_expires(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path)
    tare, _ = store.append(rec(at=T0, days=1.0))
    assert tare.expires == T0 + dt.timedelta(hours=24)  # elapsed time from performed, not local midnight
    just_before = tare.expires - dt.timedelta(microseconds=1)
    assert tare.in_force(just_before) and not tare.expired(just_before)
    assert tare.expired(tare.expires) and not tare.in_force(tare.expires)
    assert store.in_force(at=just_before) == [tare] and store.in_force(at=tare.expires) == []


def test_a_naive_time_is_one_line_error_not_a_type_error(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path)
    tare, _ = store.append(rec())
    naive = dt.datetime(2026, 3, 2, 9, 0)
    for call in (lambda: tare.expired(naive), lambda: tare.in_force(naive), lambda: store.in_force(at=naive),
                 lambda: store.latest("plate-tare", "CB-1", at=naive)):
        with pytest.raises(ValueError, match=r"^expected an aware \(UTC\) datetime, found naive 2026-03-02T09:00:00$"):
            call()


def test_each_append_logs_calibration_stored(tmp_path: Path) -> None:
    """The mitigation for what the store cannot see by itself (its newest file deleted): the log says every
    append, with its sequence number and digest, so a later read can be compared against it."""
    import structlog

    from acquisition.log import configure

    configure(level="INFO")  # the tests run at WARNING (conftest)
    try:
        with structlog.testing.capture_logs() as logs:
            store = CalibrationStore(tmp_path)
            a, pa = store.append(rec())
            b, pb = store.append(rec(at=T0 + dt.timedelta(seconds=1)))
    finally:
        configure()
    stored = [e for e in logs if e["event"] == "calibration.stored"]
    assert [(e["record"], e["seq"], e["file"], e["supersedes"]) for e in stored] == [
        (a.id, 1, pa.name, None), (b.id, 2, pb.name, a.id)]
    assert stored[1]["sha256"] == json.loads(pb.read_text())["sha256"]
