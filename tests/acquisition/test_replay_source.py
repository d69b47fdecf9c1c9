"""The replay sources (`acquisition.replay`): a sealed file's rows, events and scans handed back exactly, when the
`ReplayClock` has passed their time, with the original's last samples held for the session's stop."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

import acquisition.replay.source as source_mod
from acquisition.events import Event
from acquisition.replay.clock import ReplayClock
from acquisition.replay.origin import ReplayOf
from acquisition.replay.plan import SourcePlan, attribute
from acquisition.replay.scans import ReplayScanSource, replay_scan_encoder
from acquisition.replay.source import ReplaySource, held_rows
from acquisition.source import Source, keeps_event_steps
from acquisition.visitfile.reader import VisitFile
from tests.acquisition.visit_files import COP_ROWS, EMG_ROWS, make_visit

ORIGIN = ReplayOf(file="ABC-001_D0.h5", sha256="ab" * 32)


@pytest.fixture(scope="module")
def vf(tmp_path_factory: pytest.TempPathFactory):
    path = make_visit(tmp_path_factory.mktemp("visit"))
    with VisitFile.open(path) as f:
        yield f


def _source(vf: VisitFile, clock: ReplayClock, **kw: object) -> ReplaySource:
    src = ReplaySource("dev", [vf.streams["emg_a"], vf.streams["cop"]], clock=clock, origin=ORIGIN,
                       events=vf.events(), counters={"frames": 3300, "gaps": 1}, **kw)  # type: ignore[arg-type]
    src.open()
    return src


def _drain(src: ReplaySource) -> dict[str, list]:
    got: dict[str, list] = {"emg_a": [], "cop": []}
    for _ in range(1000):
        chunks = src.read(0.0)
        if not chunks:
            return got
        for c in chunks:
            got[c.stream].append(c)
    raise AssertionError("the source kept handing over")


def _cat(chunks: list, field: str) -> np.ndarray:
    return np.concatenate([getattr(c, field) for c in chunks])


def test_rows_are_due_by_their_time(vf: VisitFile) -> None:
    clock = ReplayClock(9.0)
    src = _source(vf, clock)
    assert isinstance(src, Source) and keeps_event_steps(src) and src.emits_pseudonymous_names
    assert src.read(0.0) == [] and src.pending() == 0 and src.drain_events() == []
    clock.advance(10.5)
    assert src.pending() == 501 + 51  # emg_a rows with t = 10 + i / 1000 <= 10.5; cop rows with seq <= 50
    got = _drain(src)
    emg, cop = vf.streams["emg_a"], vf.streams["cop"]
    assert _cat(got["emg_a"], "data").tobytes() == emg.read(0, 501).tobytes()
    assert np.array_equal(_cat(got["cop"], "device_seq"), cop.device_seq(0, 51))
    assert all(c.t_read is None for c in got["emg_a"])  # no read stamps in the original: none handed over
    assert _cat(got["cop"], "t_read").tobytes() == cop.t_read(0, 51).tobytes()  # type: ignore[union-attr]
    assert src.pending() == 0
    assert [e.t_lsl for e in src.drain_events()] == [10.0]
    assert src.counters() == {"frames": 3300, "gaps": 1}


def test_everything_comes_back_exactly_with_the_tail_after_close(vf: VisitFile, monkeypatch) -> None:
    monkeypatch.setattr(source_mod, "BLOCK_BYTES", 4096)  # several file blocks per stream
    clock = ReplayClock(9.0)
    src = _source(vf, clock, held_at_stop=7, max_rows=300)
    clock.advance(1e9)
    first = _drain(src)
    assert all(c.n <= 300 for cs in first.values() for c in cs)
    # the last 7 samples by time: cop 13.00..13.04 and emg_a 12.998, 12.999
    assert src.rows_left == 7 and src.pending() == 0
    src.prepare_stop()
    assert _drain(src) == {"emg_a": [], "cop": []}  # the tail waits for close()
    assert len(src.drain_events()) == 5
    src.close()
    tail = _drain(src)
    assert sum(c.n for c in tail["emg_a"]) == 2 and sum(c.n for c in tail["cop"]) == 5
    for name in ("emg_a", "cop"):
        view, chunks = vf.streams[name], first[name] + tail[name]
        assert _cat(chunks, "data").tobytes() == view.read().tobytes()
        assert _cat(chunks, "data").dtype == view.spec.np_dtype
        assert np.array_equal(_cat(chunks, "device_seq"), view.device_seq())
        assert _cat(chunks, "t_lsl").tobytes() == view.t_lsl().tobytes()
    assert src.rows_left == 0


def test_held_rows_are_the_last_samples_by_time() -> None:
    a = np.array([1.0, 2.0, 3.0, 9.0])
    b = np.array([2.5, 8.0, 9.0])
    assert held_rows([a, b], 3) == [1, 2]  # 9.0 (b wins the tie), 9.0, 8.0
    assert held_rows([a, b], 0) == [0, 0]
    assert held_rows([a, b], 100) == [4, 3]


def test_streams_keep_their_spec_from_a_replayed_device(vf: VisitFile) -> None:
    src = _source(vf, ReplayClock(0.0))
    for spec in src.streams:
        orig = vf.streams[spec.name].spec
        assert spec.device.transport == f"replay sha256:{'ab' * 8}"  # never the file's name (a pseudonym)
        assert spec.device.model_copy(update={"transport": orig.device.transport}) == orig.device
        assert spec.model_copy(update={"device": orig.device}) == orig


def test_next_due_is_the_first_row_or_event_after_a_time(vf: VisitFile) -> None:
    """What the driver jumps to over a silence: emg_a rows at 10 + i/1000, cop at 10 + seq/100, events at 10..14."""
    src = _source(vf, ReplayClock(0.0))
    assert src.next_due(0.0) == 10.0
    assert src.next_due(10.0) == 10.001
    assert src.next_due(12.999) == 13.0  # past every row: the next event
    assert src.next_due(14.0) == float("inf")
    assert src.items == EMG_ROWS + COP_ROWS + 5
    ev = Event(t_lsl=7.5, utc="2026-01-01T00:00:00Z", kind="scan", name="scan.ingested", stream="scanner")
    scanner = ReplayScanSource("scanner", [vf.scans[i] for i in vf.scans], clock=ReplayClock(0.0), events=[ev])
    assert scanner.next_due(0.0) == 7.5 and scanner.next_due(7.5) == float("inf")  # the scan has no t_lsl
    assert scanner.items == 2


def test_scans_come_back_as_stored(vf: VisitFile) -> None:
    clock = ReplayClock(0.0)
    ev = Event(t_lsl=5.0, utc="2026-01-01T00:00:00Z", kind="scan", name="scan.ingested", stream="scanner")
    scanner = ReplayScanSource("scanner", [vf.scans[i] for i in vf.scans], clock=clock, events=[ev],
                               counters={"captures_ingested": 1})
    (cap,) = scanner.poll()  # no t_lsl in this capture: due at once
    view = vf.scans["rest_1"]
    scan_id, arrays, attrs = replay_scan_encoder(cap)
    assert scan_id == "rest_1" and sorted(arrays) == view.datasets and attrs == view.stored_attrs
    for k, a in arrays.items():
        ref = view.array(k)
        assert ref is not None and a.dtype == ref.dtype and a.tobytes() == ref.tobytes()
    assert "texture_format" not in attrs  # the model's defaults are not added
    assert scanner.poll() == [] and scanner.drain_events() == []
    clock.advance(5.0)
    assert scanner.drain_events() == [ev]
    assert keeps_event_steps(scanner) and scanner.counters() == {"captures_ingested": 1}


def test_clock_moves_forward_only_and_wakes_waiters() -> None:
    clock = ReplayClock(1.0)
    assert clock.advance(0.5) == 1.0 and clock() == 1.0
    gen = clock.generation
    woke: list[int] = []
    t = threading.Thread(target=lambda: woke.append(clock.wait_change(gen, 5.0)))
    t.start()
    time.sleep(0.05)
    clock.advance(2.0)
    t.join(2.0)
    assert woke and woke[0] > gen and clock() == 2.0
    t0 = time.monotonic()
    assert clock.wait_until(lambda: False, 0.05) is False
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(ValueError):
        ReplayClock(float("nan"))


def test_events_are_attributed_to_their_source() -> None:
    def ev(name: str, stream: str = "", **payload: object) -> Event:
        return Event(t_lsl=1.0, utc="x", kind="device", name=name, stream=stream, payload=payload)

    sources = {"bit": SourcePlan("bit", ("emg_a", "emg_b"), False, 0.0, 0, serials=frozenset({"B1"})),
               "scanner": SourcePlan("scanner", (), True, 0.0, 1)}
    assert attribute(ev("source.read_failed", source="bit"), sources) == "bit"
    assert attribute(ev("samples.missing", "emg_b"), sources) == "bit"
    assert attribute(ev("stream.stalled", "emg_a,emg_b"), sources) == "bit"
    assert attribute(ev("device.opened", "scanner"), sources) == "scanner"
    assert attribute(ev("device.opened", serial="B1"), sources) == "bit"
    assert attribute(ev("compactor.failed"), sources) is None
    assert attribute(ev("samples.missing", "emg_a,jaw"), sources) is None


def test_replay_of_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ReplayOf(file="x.h5", sha256="not hex")
