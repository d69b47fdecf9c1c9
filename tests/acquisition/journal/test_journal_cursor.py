from __future__ import annotations

import threading
from pathlib import Path

from acquisition.journal import CursorPosition, Journal, LogCursor, list_segments
from acquisition.journal.framing import frame

from tests.acquisition.journal.journal_helpers import framed_blob, payload_for, write_segment


def test_tailing_a_live_writer_returns_every_record_once_in_order(tmp_path: Path) -> None:
    root = tmp_path / "j"
    n = 5000
    got: list[bytes] = []
    with Journal(root, segment_bytes=8192, fsync_interval_s=0.05) as j:
        w = j.log("streams/emg")
        cur = LogCursor(root / "streams" / "emg")
        done = threading.Event()

        def write() -> None:
            for i in range(n):
                w.append(payload_for(i))
            done.set()

        t = threading.Thread(target=write)
        t.start()
        polls = 0
        while not done.is_set():
            got.extend(cur.read_new())
            polls += 1
        t.join()
        got.extend(cur.read_new())
    assert len(list_segments(root / "streams" / "emg")) > 10  # rollovers happened while tailing
    assert polls > 1
    assert got == [payload_for(i) for i in range(n)]
    assert cur.counters() == {"records": n, "damaged_regions": 0, "bytes_skipped": 0, "torn_tail_bytes": 0}
    assert cur.read_new(final=True) == []


def test_incomplete_record_at_the_end_of_the_newest_segment_is_pending(tmp_path: Path) -> None:
    d = tmp_path / "log"
    blob, _ = framed_blob([b"one", b"two"])
    third = frame(b"three" * 10)
    path = write_segment(d, 0, blob + third[:9])
    cur = LogCursor(d)
    assert cur.read_new() == [b"one", b"two"]
    assert cur.read_new() == []
    assert cur.counters()["torn_tail_bytes"] == 0 and not cur.damage
    with open(path, "ab") as f:  # the writer finishes the record
        f.write(third[9:])
    assert cur.read_new() == [b"three" * 10]
    assert cur.position == CursorPosition(0, len(blob) + len(third))


def test_incomplete_tail_becomes_torn_once_a_newer_segment_exists(tmp_path: Path) -> None:
    d = tmp_path / "log"
    blob, _ = framed_blob([b"a", b"b"])
    write_segment(d, 0, blob + frame(b"torn")[:7])
    cur = LogCursor(d)
    assert cur.read_new() == [b"a", b"b"]
    write_segment(d, 1, frame(b"c"))  # e.g. the daemon restarted after a crash
    assert cur.read_new() == [b"c"]
    assert cur.torn_tail_bytes == 7 and not cur.damage
    assert cur.position == CursorPosition(1, len(frame(b"c")))


def test_final_read_reports_the_torn_tail_of_the_newest_segment(tmp_path: Path) -> None:
    d = tmp_path / "log"
    blob, _ = framed_blob([b"x"])
    write_segment(d, 0, blob + frame(b"y")[:5])
    cur = LogCursor(d)
    assert cur.read_new() == [b"x"]
    assert cur.read_new(final=True) == []
    assert cur.torn_tail_bytes == 5
    assert cur.read_new(final=True) == []
    assert cur.torn_tail_bytes == 5  # reported once


def test_damage_in_an_older_segment_is_reported_once_and_skipped(tmp_path: Path) -> None:
    d = tmp_path / "log"
    blob, spans = framed_blob([b"r0" * 5, b"r1" * 5, b"r2" * 5])
    bad = bytearray(blob)
    bad[spans[1][0] + 14] ^= 0x10
    write_segment(d, 0, bytes(bad))
    write_segment(d, 1, frame(b"r3"))
    cur = LogCursor(d)
    assert cur.read_new() == [b"r0" * 5, b"r2" * 5, b"r3"]
    assert cur.read_new() == []
    assert len(cur.damage) == 1 and cur.damage[0].offset == spans[1][0] and cur.damage[0].segment == "seg-000000.amj"


def test_resume_from_a_saved_position_and_max_records(tmp_path: Path) -> None:
    root = tmp_path / "j"
    with Journal(root, segment_bytes=4096) as j:
        w = j.log("events")
        for i in range(300):
            w.append(payload_for(i))
    d = root / "events"
    cur = LogCursor(d)
    first = cur.read_new(max_records=120)
    assert first == [payload_for(i) for i in range(120)]
    resumed = LogCursor(d, start=cur.position)
    rest = resumed.read_new()
    assert rest == [payload_for(i) for i in range(120, 300)]
    assert cur.read_new() == rest  # the original cursor continues where it stopped, too


def test_missing_log_directory_reads_nothing(tmp_path: Path) -> None:
    assert LogCursor(tmp_path / "nope").read_new() == []


def test_a_frame_inside_a_record_being_written_is_not_mistaken_for_a_record(tmp_path: Path) -> None:
    d = tmp_path / "log"
    inner = frame(b"i am a payload that looks like a record")
    outer = frame(b"head" + inner + b"tail" * 20)
    path = write_segment(d, 0, frame(b"first") + outer[: 12 + 4 + len(inner) + 3])  # writer mid-record
    cur = LogCursor(d)
    assert cur.read_new() == [b"first"]
    assert cur.read_new() == [] and not cur.damage
    with open(path, "ab") as f:
        f.write(outer[12 + 4 + len(inner) + 3 :])
    assert cur.read_new() == [b"head" + inner + b"tail" * 20]
    assert not cur.damage and cur.torn_tail_bytes == 0
