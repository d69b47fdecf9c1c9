from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

import pytest

from acquisition.journal import Journal, JournalError, list_segments, scan_log
from acquisition.journal import writer as writer_mod
from acquisition.journal.framing import HEADER_BYTES

from tests.acquisition.journal.journal_helpers import payload_for


def test_round_trip_several_logs(tmp_path: Path) -> None:
    with Journal(tmp_path / "j") as j:
        emg = j.log("streams/emg")
        ev = j.log("events")
        assert j.log("streams/emg") is emg
        for i in range(50):
            emg.append(payload_for(i))
            if i % 10 == 0:
                ev.append(b'{"i":%d}' % i)
        c = j.counters()
        assert c["records"] == 55
        assert c["logs"]["streams/emg"]["records"] == 50
        assert c["bytes"] == sum(len(payload_for(i)) + HEADER_BYTES for i in range(50)) + sum(
            len(b'{"i":%d}' % i) + HEADER_BYTES for i in range(0, 50, 10)
        )
    assert scan_log(tmp_path / "j" / "streams" / "emg", final=True).records == [payload_for(i) for i in range(50)]
    assert scan_log(tmp_path / "j" / "events", final=True).records == [b'{"i":%d}' % i for i in range(0, 50, 10)]


@pytest.mark.parametrize("bad", ["", "/abs", "a/../b", "..", ".", "a//b", "a/", "x" * 65, "a b", "a/b/c/d/e", "é", ".hidden"])
def test_log_names_are_validated(tmp_path: Path, bad: str) -> None:
    with Journal(tmp_path / "j") as j:
        with pytest.raises(ValueError, match="log name"):
            j.log(bad)
    assert not (tmp_path / "b").exists()


def test_rollover_keeps_segments_under_the_limit_and_order(tmp_path: Path) -> None:
    root = tmp_path / "j"
    payloads = [bytes([i % 251]) * 1000 for i in range(30)] + [b"B" * 10_000] + [b"after"]
    with Journal(root, segment_bytes=4096) as j:
        w = j.log("scans")
        for p in payloads:
            w.append(p)
        assert j.counters()["logs"]["scans"]["segments_created"] == len(list_segments(root / "scans"))
    segs = list_segments(root / "scans")
    assert [i for i, _ in segs] == list(range(len(segs)))
    sizes = [p.stat().st_size for _, p in segs]
    assert len(segs) == 30 // 4 + 1 + 1 + 1  # 4 records of 1012 bytes per 4096-byte segment, the big one alone, then 'after'
    assert all(s <= 4096 for s in sizes if s != 10_000 + HEADER_BYTES)
    assert 10_000 + HEADER_BYTES in sizes
    scan = scan_log(root / "scans", final=True)
    assert scan.records == payloads and scan.clean


def test_reopen_after_crash_appends_to_a_new_segment(tmp_path: Path) -> None:
    root = tmp_path / "j"
    j = Journal(root)
    w = j.log("events")
    w.append(b"one")
    w.append(b"two")
    j.close()
    first = list_segments(root / "events")[-1][1]
    with open(first, "ab") as f:  # a torn tail, as a crash mid-write would leave
        f.write(b"AMJ1\x40\x00")
    with Journal(root) as j2:
        w2 = j2.log("events")
        assert w2.segment_path != first
        assert w2.segment_path.name == "seg-000001.amj"
        w2.append(b"three")
    assert first.read_bytes().endswith(b"AMJ1\x40\x00")  # the old segment was not appended to
    scan = scan_log(root / "events", final=True)
    assert scan.records == [b"one", b"two", b"three"]
    assert scan.torn_tail_bytes == 6 and scan.damaged_regions == 0


def test_second_journal_on_same_directory_is_refused(tmp_path: Path) -> None:
    with Journal(tmp_path / "j"):
        with pytest.raises(JournalError, match="already open"):
            Journal(tmp_path / "j")
    Journal(tmp_path / "j").close()  # free again after close


def test_background_fsync_within_interval_without_further_appends(tmp_path: Path) -> None:
    with Journal(tmp_path / "j", fsync_interval_s=0.05) as j:
        w = j.log("events")
        time.sleep(0.1)
        idle = j.counters()["fsyncs"]
        time.sleep(0.1)
        assert j.counters()["fsyncs"] == idle, "no fsync when nothing is dirty"
        t0 = time.monotonic()
        w.append(b"x" * 100)
        assert w.counters()["unsynced_bytes"] == 100 + HEADER_BYTES
        while w.counters()["unsynced_bytes"] and time.monotonic() - t0 < 2.0:
            time.sleep(0.002)
        elapsed = time.monotonic() - t0
        c = w.counters()
        assert c["unsynced_bytes"] == 0 and c["fsyncs"] == idle + 1
        assert c["last_fsync"] is not None and c["last_fsync"] >= t0
        assert elapsed < 0.05 + 0.25  # the interval plus scheduling slack on a loaded 2-core CI box


def test_steady_appends_get_fsynced_regularly(tmp_path: Path) -> None:
    with Journal(tmp_path / "j", fsync_interval_s=0.05) as j:
        w = j.log("streams/emg")
        t_end = time.monotonic() + 0.4
        worst = 0.0
        while time.monotonic() < t_end:
            w.append(b"s" * 64)
            last = w.counters()["last_fsync"]
            if last is not None:
                worst = max(worst, time.monotonic() - last)
            time.sleep(0.001)
        assert w.counters()["fsyncs"] >= 4
        assert worst < 0.05 + 0.25


def test_flush_fsyncs_now(tmp_path: Path) -> None:
    with Journal(tmp_path / "j", fsync_interval_s=60.0) as j:
        w = j.log("events")
        w.append(b"a")
        before = w.counters()["fsyncs"]
        j.flush()
        c = w.counters()
        assert c["fsyncs"] == before + 1 and c["unsynced_bytes"] == 0
        j.flush()
        assert w.counters()["fsyncs"] == before + 1  # nothing dirty, nothing to do


def test_write_error_raises_and_next_append_starts_a_new_segment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = writer_mod._write_all

    def disk_full_after_half(fd: int, header: bytes, payload: bytes) -> None:
        data = header + bytes(payload)
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    root = tmp_path / "j"
    with Journal(root) as j:
        w = j.log("events")
        w.append(b"before")
        monkeypatch.setattr(writer_mod, "_write_all", disk_full_after_half)
        with pytest.raises(JournalError, match="No space left"):
            w.append(b"lost-" * 20)
        monkeypatch.setattr(writer_mod, "_write_all", real)
        w.append(b"after")
        assert w.counters()["write_errors"] == 1
        assert w.segment_path.name == "seg-000001.amj"
    scan = scan_log(root / "events", final=True)
    assert scan.records == [b"before", b"after"]
    assert scan.torn_tail_bytes > 0


def test_fsync_failure_is_fatal_and_never_swallowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def eio(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    j = Journal(tmp_path / "j", fsync_interval_s=0.05)
    w = j.log("events")
    monkeypatch.setattr(writer_mod, "_fsync", eio)
    w.append(b"a")
    t0 = time.monotonic()
    while j.error is None and time.monotonic() - t0 < 2.0:
        time.sleep(0.005)
    assert j.error is not None and "Input/output error" in str(j.error)
    with pytest.raises(JournalError, match="failed"):
        w.append(b"b")
    with pytest.raises(JournalError):
        j.flush()
    with pytest.raises(JournalError):
        j.close()
    assert j.counters()["failed"] is True


def test_append_after_close_raises(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    w = j.log("events")
    j.close()
    with pytest.raises(JournalError, match="closed"):
        w.append(b"late")
    with pytest.raises(JournalError, match="closed"):
        j.log("other")


def test_concurrent_appenders(tmp_path: Path) -> None:
    root = tmp_path / "j"
    n = 2000
    with Journal(root, segment_bytes=16384, fsync_interval_s=0.05) as j:
        shared = j.log("shared")

        def worker(k: int) -> None:
            own = j.log(f"streams/s{k}")
            for i in range(n):
                own.append(payload_for(i))
                shared.append(bytes([k]) + payload_for(i))

        ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    for k in range(4):
        s = scan_log(root / "streams" / f"s{k}", final=True)
        assert s.clean and s.records == [payload_for(i) for i in range(n)]
    s = scan_log(root / "shared", final=True)
    assert s.clean and len(s.records) == 4 * n
    for k in range(4):  # each thread's records, in that thread's order
        assert [r[1:] for r in s.records if r[0] == k] == [payload_for(i) for i in range(n)]


def test_a_crashed_fsync_thread_fails_the_journal_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(fd: int) -> None:
        raise RuntimeError("unexpected")

    j = Journal(tmp_path / "j", fsync_interval_s=0.05)
    w = j.log("events")
    monkeypatch.setattr(writer_mod, "_fsync", boom)
    w.append(b"a")
    t0 = time.monotonic()
    while j.error is None and time.monotonic() - t0 < 2.0:
        time.sleep(0.005)
    assert j.error is not None and "fsync thread crashed" in str(j.error)
    with pytest.raises(JournalError, match="fsync thread crashed"):
        w.append(b"b")
    monkeypatch.undo()
    with pytest.raises(JournalError):
        j.close()
