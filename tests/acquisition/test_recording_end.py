"""A recovered file's `closed_utc` is when the recording ended: the latest of the close record, the last event
and the last local sample mapped through the nearest clock pair; and the seal's expectations come from the
compactor, not from its writer."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import pytest

from acquisition.journal import Journal, encode_event
from acquisition.journal.records import CloseRecord, encode_meta
from acquisition.events import Event
from acquisition.visitfile.compactor import Compactor
from acquisition.visitfile.recording_end import ClockPairs, parse_utc, recording_end_utc
from tests.acquisition.journal_builder import LAST_EVENT, LAST_SAMPLE, STARTED, T0, flip, write_journal


def _seconds_between(a: str, b: str) -> float:
    pa, pb = parse_utc(a), parse_utc(b)
    assert pa is not None and pb is not None
    return abs((pa - pb).total_seconds())


def _compacted(jdir: Path, tmp_path: Path) -> Compactor:
    comp = Compactor(jdir, tmp_path / "v.h5.partial")
    comp.run_once(final=True)
    return comp


def test_the_last_sample_not_the_last_event_ends_a_crashed_recording(tmp_path: Path) -> None:
    write_journal(tmp_path / "journal")
    comp = _compacted(tmp_path / "journal", tmp_path)
    assert comp.closed_utc is None and comp.last_event_utc == LAST_EVENT
    end = comp.recording_end_utc()
    assert end is not None and _seconds_between(end, LAST_SAMPLE) < 1e-3
    assert _seconds_between(end, LAST_EVENT) > 1.7  # the old answer, the last event, was 1.75 s early
    comp.abort()


def test_a_stream_with_the_senders_lsl_timestamps_is_not_mapped(tmp_path: Path) -> None:
    # jaw's timestamps are a remote outlet's clock: far later than anything local, they must not end the visit
    write_journal(tmp_path / "journal", streams={"emg": (3, 1000.0, 3000), "jaw": (2, 1.0, 300)},
                  transports={"jaw": "lsl:TestJaw"})
    comp = _compacted(tmp_path / "journal", tmp_path)
    end = comp.recording_end_utc()
    assert end is not None and _seconds_between(end, LAST_SAMPLE) < 1e-3  # not T0 + 299 s
    comp.abort()


def test_a_close_record_later_than_every_sample_wins(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    write_journal(jdir)
    closed = "2026-01-05T09:00:05.000000Z"
    with Journal(jdir) as j:
        j.log("meta").append(encode_meta(CloseRecord(closed_utc=closed)))
    comp = _compacted(jdir, tmp_path)
    assert comp.recording_end_utc() == closed
    comp.abort()


def test_the_nearest_clock_pair_places_the_sample() -> None:
    pairs = ClockPairs()
    base = parse_utc(STARTED)
    assert base is not None
    assert pairs.add(T0, STARTED)
    # the UTC clock ran 0.5 s ahead of the LSL clock over the first minute: the later pair must be used
    assert pairs.add(T0 + 60.0, (base + _dt.timedelta(seconds=60.5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    assert not pairs.add(float("nan"), STARTED) and not pairs.add(T0, "not a time") and len(pairs) == 2
    end = recording_end_utc([LAST_EVENT, None, "garbage"], [T0 + 70.0, None], pairs)
    assert end == (base + _dt.timedelta(seconds=70.5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert recording_end_utc([None], [T0 + 1.0], ClockPairs()) is None  # no pair: nothing can be mapped


def test_the_visit_record_is_a_clock_pair_when_every_clock_event_is_lost(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    write_journal(jdir)
    flip(jdir / "events", 1)  # the only clock.pair event: its CRC fails, it is dropped
    comp = _compacted(jdir, tmp_path)
    end = comp.recording_end_utc()
    assert end is not None and _seconds_between(end, LAST_SAMPLE) < 1e-3  # through started_t_lsl / started_utc
    comp.abort()


def test_seal_expectations_are_the_tallies_and_event_count_of_what_was_written(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    with pytest.raises(RuntimeError, match="nothing to seal"):
        Compactor(jdir, tmp_path / "none.h5.partial").seal_expectations()
    write_journal(jdir)
    comp = _compacted(jdir, tmp_path)
    tallies, n_events = comp.seal_expectations()
    assert {k: (t.n, t.first_seq, t.last_seq) for k, t in tallies.items()} == {"emg": (3000, 0, 2999),
                                                                                 "jaw": (300, 0, 299)}
    assert n_events == 3  # visit.opened, clock.pair, marker.last
    with Journal(jdir) as j:
        j.log("events").append(encode_event(Event(t_lsl=T0 + 2.0, utc=LAST_EVENT, kind="marker", name="m")))
    comp.run_once(final=True)
    assert comp.seal_expectations()[1] == 4
    comp.abort()
