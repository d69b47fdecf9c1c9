import os

import numpy as np
from evdev import _input, ecodes
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.stabilometry.evdev_reader import CELL_CODES, ReportAssembler
from drivers.stabilometry.evdev_records import RECORD_SIZE, RecordParser, pack_event

SYN = (ecodes.EV_SYN, ecodes.SYN_REPORT, 0)


def _report(sec, usec, values):
    return b"".join(pack_event(sec, usec, ecodes.EV_ABS, c, v) for c, v in zip(CELL_CODES, values)) + pack_event(
        sec, usec, *SYN)


def test_record_is_struct_input_event_as_python_evdev_reads_it():
    # python-evdev's own C reader (the one used on /dev/input/eventN) parses our records identically
    assert RECORD_SIZE == 24
    r, w = os.pipe()
    try:
        os.write(w, pack_event(1234, 567890, ecodes.EV_ABS, ecodes.ABS_HAT1Y, 6543) + pack_event(1234, 567890, *SYN))
        assert _input.device_read_many(r) == ((1234, 567890, ecodes.EV_ABS, ecodes.ABS_HAT1Y, 6543),
                                              (1234, 567890, ecodes.EV_SYN, ecodes.SYN_REPORT, 0))
    finally:
        os.close(r)
        os.close(w)


def test_partial_records_wait_for_the_rest():
    data = _report(10, 5, [1, 2, 3, 4])
    p = RecordParser()
    evs = p.feed(data[:30]) + p.feed(data[30:70]) + p.feed(data[70:])
    assert [(e.code, e.value) for e in evs[:4]] == list(zip(CELL_CODES, [1, 2, 3, 4]))
    assert p.bad_records == 0 and p.pending == 0


def test_stray_bytes_resync_on_next_record():
    p = RecordParser()
    evs = p.feed(_report(10, 5, [1, 2, 3, 4]) + b"\xff" * 7 + _report(10, 15, [5, 6, 7, 8]))
    vals = [e.value for e in evs if e.type == ecodes.EV_ABS]
    assert vals == [1, 2, 3, 4, 5, 6, 7, 8]
    assert p.resyncs == 1 and p.bytes_skipped == 7


@settings(max_examples=300)
@given(st.binary(max_size=1000), st.integers(1, 100))
def test_random_bytes_only_counted_errors(data, cut):
    p = RecordParser()
    a = ReportAssembler()
    for i in range(0, len(data), cut):
        rep = a.feed(p.feed(data[i:i + cut]))  # never raises
        assert rep.cells.shape[1] == 4 and len(rep.cells) == len(rep.t_kernel)
        assert ((rep.cells >= 0) & (rep.cells <= 65535)).all()
    # every byte is accounted for: parsed records, skipped bytes, or still pending
    assert p.records * RECORD_SIZE + p.bytes_skipped + p.pending == len(data)


@given(st.lists(st.tuples(*[st.integers(0, 65535)] * 4), min_size=1, max_size=20))
def test_assembler_one_sample_per_syn_report_holding_unchanged_axes(rows):
    p, a = RecordParser(), ReportAssembler()
    data = _report(100, 0, rows[0])
    prev = rows[0]
    for i, row in enumerate(rows[1:], start=1):  # only changed axes are sent, like evdev
        changed = [(c, v) for c, v, o in zip(CELL_CODES, row, prev) if v != o]
        if changed:
            data += b"".join(pack_event(100, i, ecodes.EV_ABS, c, v) for c, v in changed) + pack_event(100, i, *SYN)
        prev = row
    rep = a.feed(p.feed(data))
    expect = [rows[0]] + [r for r, o in zip(rows[1:], rows[:-1]) if r != o]
    assert rep.cells.tolist() == [list(r) for r in expect]


def test_syn_dropped_discards_until_report_and_forgets_state():
    p, a = RecordParser(), ReportAssembler()
    data = _report(5, 0, [10, 20, 30, 40])
    data += pack_event(5, 10, ecodes.EV_SYN, ecodes.SYN_DROPPED, 0)
    data += pack_event(5, 20, ecodes.EV_ABS, ecodes.ABS_HAT0X, 99) + pack_event(5, 20, *SYN)  # discarded
    data += pack_event(5, 30, ecodes.EV_ABS, ecodes.ABS_HAT0X, 11) + pack_event(5, 30, *SYN)  # incomplete state
    data += _report(5, 40, [12, 21, 31, 41])  # full state again
    rep = a.feed(p.feed(data))
    assert rep.dropped == 1 and rep.resync_needed
    assert rep.cells.tolist() == [[10, 20, 30, 40], [12, 21, 31, 41]]
    np.testing.assert_allclose(rep.t_kernel, [5.0, 5.00004])
