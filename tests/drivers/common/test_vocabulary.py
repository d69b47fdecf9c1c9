"""The drivers' shared vocabulary, reporter and sequence continuation (issue 8 §4)."""

from __future__ import annotations

import pytest

from acquisition.events import DEVICE_EVENT_NAMES, STANDARD_COUNTERS
from drivers.common.reporter import Reporter
from drivers.common.sequence import continue_after_outage


def test_one_name_per_fault() -> None:
    for old in ("frame.gap", "samples.lost", "samples.gap", "device.disconnected", "device.reconnected",
                "stream.resync", "reply.resynced", "reply.crc_failed", "device.stalled", "device.silent"):
        assert old not in DEVICE_EVENT_NAMES
    for std in ("link.disconnected", "link.reconnected", "samples.missing", "stream.resynced", "frame.crc_failed"):
        assert std in DEVICE_EVENT_NAMES
    assert {"gaps", "samples_lost", "crc_errors", "resyncs", "disconnects", "reconnects"} <= set(STANDARD_COUNTERS)


def test_reporter_counts_stamps_and_refuses_unknown_device_names() -> None:
    rep = Reporter("x", ("gaps",), clock=lambda: 12.5)
    ev = rep.event("samples.missing", count="gaps", stream="s", lost=3)
    rep.count("samples_lost", 3)
    assert (ev.t_lsl, ev.kind, ev.stream, ev.payload) == (12.5, "device", "s", {"lost": 3})
    assert rep.counters() == {"gaps": 1, "samples_lost": 3}
    with pytest.raises(ValueError, match="frame.gap"):
        rep.event("frame.gap")
    rep.event("anything.qc", kind="qc")  # only device events are held to the vocabulary
    # a counted event for several at once says how many in the record too, not only in the counter
    bad = rep.event("frame.crc_failed", count="crc_errors", n=4)
    assert bad.payload == {"n": 4} and rep.counters()["crc_errors"] == 4
    assert [e.name for e in rep.drain_events()] == ["samples.missing", "anything.qc", "frame.crc_failed"]
    assert rep.drain_events() == []


@pytest.mark.parametrize(("last_t", "first_t", "want"), [
    (10.0, 10.001, (101, 0)),  # the next sample on time: nothing lost
    (10.0, 10.0004, (101, 0)),  # early (jitter): never reuse or precede last_seq
    (10.0, 10.5, (600, 499)),  # 0.5 s outage at 1 kHz
    (10.0, 10.0026, (103, 2)),
])
def test_continue_after_outage(last_t: float, first_t: float, want: tuple[int, int]) -> None:
    assert tuple(continue_after_outage(100, last_t, first_t, 1000.0)) == want


def test_continue_after_outage_needs_a_rate() -> None:
    with pytest.raises(ValueError, match="nominal rate"):
        continue_after_outage(0, 0.0, 1.0, 0.0)


def test_a_simulator_refuses_a_fault_it_does_not_implement(tmp_path) -> None:
    from drivers.common.faults import FaultSwitchboard, UnsupportedFault
    from drivers.emg.bitalino.simulator import BitalinoSimulator
    from drivers.jaw.aurora.simulator import AuroraSimulator
    from drivers.stabilometry.cell_board.simulator import CellBoardSimulator

    for cls in (BitalinoSimulator, AuroraSimulator, CellBoardSimulator):
        board = FaultSwitchboard()
        sim = cls(link=str(tmp_path / cls.device_name), faults=board)
        try:
            assert set(board.supported) == set(cls.FAULTS) and "drift" in cls.FAULTS
            with pytest.raises(UnsupportedFault, match=f"the {cls.device_name} simulator does not implement fault 'wrong_units'"):
                board.arm("wrong_units")
            with pytest.raises(UnsupportedFault, match="unknown fault 'unplugg'"):
                board.arm("unplugg")  # type: ignore[arg-type]
            board.arm("drift")
        finally:
            sim.stop()
        armed_first = FaultSwitchboard()
        armed_first.arm("nan")  # armed before the simulator says what it implements
        with pytest.raises(UnsupportedFault, match="'nan'"):
            cls(link=str(tmp_path / (cls.device_name + "2")), faults=armed_first)


def test_reporter_refuses_a_counter_neither_standard_nor_declared() -> None:
    rep = Reporter("x", ("stepped_off",))
    rep.count("crc_errors")  # standard: appears at its first count
    rep.count("stepped_off", 2)  # declared by the source
    assert rep.counters() == {"stepped_off": 2, "crc_errors": 1}
    for misspelt in ("bad_records", "malformed_replies", "reports"):
        with pytest.raises(ValueError, match=misspelt):
            rep.count(misspelt)
    with pytest.raises(ValueError, match="garbage_bytes"):
        rep.event("stream.resynced", count="garbage_bytes")
    assert rep.drain_events() == []  # a refused report leaves no half-made event


def test_the_reporter_serves_acquisition_and_drivers_alike() -> None:
    from acquisition.reporter import Reporter as AcqReporter

    assert Reporter is AcqReporter
    for name in ("samples.reordered", "reader.stop_timeout", "device.identity_unchecked"):
        assert name in DEVICE_EVENT_NAMES
    assert "stop_timeouts" in STANDARD_COUNTERS
