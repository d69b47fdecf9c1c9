"""The LSL player: metadata, formats, lag-corrected timing, loops and stops, checked by pulling what it publishes.

Timing tests run the player on a virtual clock whose sleep oversleeps: every timestamp must still be exactly
`origin + (t_lsl - t0) / speed`, and the run must end when the schedule says, not later by the sum of the
oversleeps. Stream names carry a per-test uuid (other helpers' tests share the loopback LSL network).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from acquisition.lslenv import pylsl
from acquisition.replay import lsl_player
from acquisition.replay.lsl_player import LslPlayer, ReplayError, lsl_format
from acquisition.replay.origin import file_sha256
from acquisition.visitfile.reader import VisitFile
from tests.acquisition.visit_files import COP_ROWS, EMG_ROWS, make_visit

SPAN_S = 4.0  # make_visit: samples from t=10.0 to 12.999, five events at t=10..14


@pytest.fixture(scope="module")
def visit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_visit(tmp_path_factory.mktemp("player"))


@pytest.fixture
def suffix() -> str:
    return f"-replay-{uuid.uuid4().hex[:8]}"


class VirtualClock:
    """A clock that moves only when slept on, by `over` times what was asked plus `extra` (a loaded machine)."""

    def __init__(self, t: float = 5000.0, over: float = 1.0, extra: float = 0.0) -> None:
        self.t, self.over, self.extra = t, over, extra
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.t

    def sleep(self, d: float) -> None:
        self.sleeps.append(d)
        self.t += d * self.over + self.extra


def _inlet(name: str) -> pylsl.StreamInlet:
    found = pylsl.resolve_byprop("name", name, 1, 5.0)
    assert found, f"{name} not visible on LSL"
    inlet = pylsl.StreamInlet(found[0], max_buflen=360, recover=False)
    inlet.open_stream(timeout=5.0)
    return inlet


def _pull(inlet: pylsl.StreamInlet, n: int, timeout_s: float = 10.0) -> tuple[list, np.ndarray]:
    rows: list = []
    stamps: list[float] = []
    deadline = time.monotonic() + timeout_s
    while len(stamps) < n and time.monotonic() < deadline:
        d, ts = inlet.pull_chunk(timeout=0.1, max_samples=100_000)
        rows.extend(d)
        stamps.extend(ts)
    return rows, np.asarray(stamps, dtype=np.float64)


def _names(player: LslPlayer) -> dict[str, str]:
    return {p.stream or "events": p.lsl_name for p in player.published}


def test_formats_hold_codes_and_numbers_exactly() -> None:
    assert lsl_format("uint16", 0, 10**6) == "int32"
    assert lsl_format("int8", 0, 5) == "int32"
    assert lsl_format("int32", 0, 2**31 - 1) == "int32"
    assert lsl_format("uint16", 0, 2**31) == "int64"  # numbers past int32: the whole stream goes int64
    assert lsl_format("uint32", 0, 5) == "int64"  # codes past int32
    assert lsl_format("int64", 0, 5) == "int64"
    assert lsl_format("float32", 0, 2**40) == "float64"  # float32 would round a number past 2^24
    with pytest.raises(ReplayError, match="2\\^53"):
        lsl_format("float64", 0, 2**53 + 2)


def test_arguments_are_checked_before_anything_is_published(visit: Path) -> None:
    with VisitFile.open(visit) as vf:
        for bad in (0, -1.0, float("nan"), float("inf")):
            with pytest.raises(ValueError, match="speed"):
                LslPlayer(vf, speed=bad)
        with pytest.raises(ValueError, match="source_id"):
            LslPlayer(vf, name_suffix="")
        with pytest.raises(ValueError, match="tick_s"):
            LslPlayer(vf, tick_s=0.5, max_wait_s=0.1)
        with pytest.raises(ReplayError, match="before open"):
            LslPlayer(vf).run()


def test_metadata_names_and_source_ids(visit: Path, suffix: str) -> None:
    with VisitFile.open(visit) as vf, LslPlayer(vf, speed=2.0, name_suffix=suffix) as player:
        spec = vf.streams["emg_a"].spec
        pub = {p.stream: p for p in player.published}
        assert set(pub) == {"emg_a", "cop", ""}
        emg = pub["emg_a"]
        assert (emg.lsl_name, emg.source_id) == (f"amuse_emg_a{suffix}", f"T-emg_a{suffix}")
        assert emg.source_id != spec.device.serial
        assert (emg.channel_format, emg.channel_count, emg.rows) == ("int32", 65, EMG_ROWS)
        assert (pub["cop"].channel_format, pub["cop"].rows) == ("float64", COP_ROWS)
        assert pub[""].rows == len(vf.events()) and pub[""].channel_format == "string"
        inlet = _inlet(emg.lsl_name)
        info = inlet.info(timeout=5.0)
        # the original rate at any speed: liblsl sizes (and allocates) both ends' buffers from it
        assert info.channel_format() == pylsl.cf_int32 and info.nominal_srate() == 1000.0
        ch = info.desc().child("channels").child("channel")
        assert (ch.child_value("label"), ch.child_value("unit"), ch.child_value("type")) == \
            ("device_seq", "count", "device_seq")
        ch = ch.next_sibling()
        assert [ch.child_value(k) for k in ("label", "unit", "physical_unit", "scale", "offset", "type")] == \
            ["c0", "raw", "u", "0.5", "0.0", "emg"]
        replay = info.desc().child("replay")
        assert replay.child_value("speed") == "2.0" and replay.child_value("seq_channel") == "0"
        # the file by its SHA-256 only: its name is the original's pseudonym and visit code
        assert replay.child_value("sha256") == file_sha256(visit)
        assert replay.child_value("visit_file") == "" and visit.stem not in info.as_xml()
        assert info.desc().child("acquisition").child_value("simulated") == "true"
        # the device identity is the original one (only the source_id says "replay")
        assert info.desc().child("acquisition").child_value("serial_number") == spec.device.serial
        inlet.close_stream()


def test_timing_is_lag_corrected_from_one_origin(visit: Path, suffix: str) -> None:
    """A sleep that takes 3x what was asked plus 4 ms: the timestamps are still the schedule's, nothing is lost,
    and the run ends on schedule (within one late wake-up), not after the sum of the oversleeps."""
    speed = 4.0
    vc = VirtualClock(over=3.0, extra=0.004)
    with VisitFile.open(visit) as vf, LslPlayer(vf, speed=speed, name_suffix=suffix, linger_s=0.0,
                                                 clock=vc.clock, sleep=vc.sleep) as player:
        names = _names(player)
        emg_in, cop_in, ev_in = (_inlet(names[k]) for k in ("emg_a", "cop", "events"))
        origin = vc.t
        stats = player.run()
        emg, cop = vf.streams["emg_a"], vf.streams["cop"]
        rows, ts = _pull(emg_in, EMG_ROWS)
        data = np.asarray(rows, dtype=np.int64)
        assert np.array_equal(data[:, 0], emg.device_seq()) and np.array_equal(data[:, 1:], emg.read())
        np.testing.assert_allclose(ts, origin + (emg.t_lsl() - 10.0) / speed, rtol=0, atol=1e-7)
        crow, cts = _pull(cop_in, COP_ROWS)
        cdata = np.asarray(crow, dtype=np.float64)
        assert np.array_equal(cdata[:, 0], cop.device_seq())  # the original gap of 5, as recorded
        assert np.array_equal(cdata[:, 1:], cop.read().astype(np.float64))  # float32 exactly, in double64
        np.testing.assert_allclose(cts, origin + (cop.t_lsl() - 10.0) / speed, rtol=0, atol=1e-7)
        markers, mts = _pull(ev_in, 5)
        events = vf.events()
        assert [json.loads(m[0])["payload"] for m in markers] == [e.payload for e in events]
        np.testing.assert_allclose(mts, origin + (np.array([e.t_lsl for e in events]) - 10.0) / speed, atol=1e-7)
    assert stats.samples == {"emg_a": EMG_ROWS, "cop": COP_ROWS} and stats.events == 5 and stats.passes == 1
    # the last event is due at origin + 1.0 s: the run ends at most one (overslept) max_wait wake-up after it
    assert SPAN_S / speed <= stats.seconds <= SPAN_S / speed + 3 * 0.05 + 0.004 + 1e-9
    assert stats.max_late_s <= 3 * 0.05 + 0.004 + 1e-9
    assert all(0.01 <= d <= 0.05 for d in vc.sleeps)  # never a busy loop, never a long sleep


def test_loop_continues_timestamps_and_device_seq(visit: Path, suffix: str) -> None:
    passes, speed = 3, 50.0
    vc = VirtualClock()
    with VisitFile.open(visit) as vf, LslPlayer(vf, speed=speed, loop=True, name_suffix=suffix, linger_s=0.0,
                                                 clock=vc.clock, sleep=vc.sleep) as player:
        names = _names(player)
        emg_in, cop_in, ev_in = (_inlet(names[k]) for k in ("emg_a", "cop", "events"))
        stats = player.run(max_passes=passes)
        rows, ts = _pull(emg_in, passes * EMG_ROWS)
        crow, cts = _pull(cop_in, passes * COP_ROWS)
        markers, mts = _pull(ev_in, passes * 5)
        cop_seq = vf.streams["cop"].device_seq()
    seq = np.asarray(rows, dtype=np.int64)[:, 0]
    assert np.array_equal(seq, np.arange(passes * EMG_ROWS)), "one contiguous count over the passes"
    assert (np.diff(ts) > 0).all() and (np.diff(cts) > 0).all() and (np.diff(mts) >= 0).all()
    span = int(cop_seq.max() - cop_seq.min() + 1)  # 305: the gap of 5 repeats in every pass, no number twice
    assert np.array_equal(np.asarray(crow)[:, 0].astype(np.int64),
                          np.concatenate([cop_seq + k * span for k in range(passes)]))
    keys = [(json.loads(m[0])["loop"], json.loads(m[0])["i"]) for m in markers]
    assert keys == [(k, i) for k in range(passes) for i in range(5)]
    assert stats.passes == passes and stats.samples == {"emg_a": passes * EMG_ROWS, "cop": passes * COP_ROWS}


def test_stop_ends_a_loop_promptly(visit: Path, suffix: str) -> None:
    vc = VirtualClock()
    stop = threading.Event()

    def sleep(d: float) -> None:
        vc.sleep(d)
        if vc.t > 5000.0 + 2.5:  # stop 2.5 s into the first pass (a pass: 4 s + 10 ms at speed 1)
            stop.set()

    with VisitFile.open(visit) as vf, LslPlayer(vf, loop=True, name_suffix=suffix, clock=vc.clock,
                                                 sleep=sleep) as player:
        stats = player.run(stop)
    assert stats.stopped and stats.passes == 0
    assert 2300 <= stats.samples["emg_a"] <= 2700  # what was due by then, within a wake-up


def test_a_loop_refuses_numbers_its_format_cannot_hold(visit: Path, suffix: str) -> None:
    """An int32 stream whose device_seq would pass 2^31 - 1 in a later pass stops with one line, never wraps."""
    with VisitFile.open(visit) as vf, LslPlayer(vf, speed=1000.0, loop=True, name_suffix=suffix,
                                                 linger_s=0.0) as player:
        emg = next(c for c in player._cursors if c.view.name == "emg_a")
        emg.scan = lsl_player._Scan(t_min=10.0, t_max=12.999, seq_min=0, seq_max=2**31 - 1 - 100)
        with pytest.raises(ReplayError, match=r"'emg_a': device_seq would reach \d+ in pass 2, beyond what an LSL "
                                              r"int32 channel holds exactly"):
            player.run(max_passes=5)


def test_a_recorder_reads_the_replay_and_the_simulated_flag(visit: Path, suffix: str) -> None:
    """`amuse-acq record --lsl` takes a replay for what it is: the inlet reads `desc/replay` and the device's
    `simulated` (the session refuses both in production, `sessions.lsl_provenance`)."""
    from acquisition.lsl.inlet import LslInletConfig, LslInletSource

    with VisitFile.open(visit) as vf, LslPlayer(vf, name_suffix=suffix) as player:
        src = LslInletSource(LslInletConfig(lsl_name=_names(player)["emg_a"], resolve_timeout_s=5.0))
        src.open()
        try:
            (spec,) = src.streams
            assert src.replay_sha256 == file_sha256(visit)
            assert src.simulated is True and spec.device.simulated is True
            assert spec.device.transport == f"lsl:amuse_emg_a{suffix} replay sha256:{file_sha256(visit)[:16]}"
        finally:
            src.close()


GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "emg_unplug" / "GLD-002_W4.h5"


def test_markers_carry_no_identity(suffix: str) -> None:
    """The marker stream is on the network for anyone: `visit.opened` (and any event) without subject, visit or
    operator, and nothing of the file's name."""
    vc = VirtualClock()
    with VisitFile.open(GOLDEN) as vf, LslPlayer(vf, speed=100.0, name_suffix=suffix, linger_s=0.0,
                                                  clock=vc.clock, sleep=vc.sleep) as player:
        ev_in = _inlet(_names(player)["events"])
        n = len(vf.events())
        opened = vf.events(name="visit.opened")[0]
        assert {"subject", "visit", "operator"} <= set(opened.payload)  # what the file itself holds
        player.run()
        markers, _ = _pull(ev_in, n)
    bodies = [json.loads(m[0]) for m in markers]
    assert len(bodies) == n
    assert [b for b in bodies if b["name"] == "visit.opened"][0]["payload"] == \
        {k: v for k, v in opened.payload.items() if k not in ("subject", "visit", "operator")}
    assert not any({"subject", "visit", "operator"} & set(b["payload"]) for b in bodies)
    assert not any("GLD-002" in m[0] or "tech" in json.dumps(b["payload"]) for m, b in zip(markers, bodies))


def test_waiting_for_consumers_uses_the_players_clock_and_stops(visit: Path, suffix: str) -> None:
    vc = VirtualClock()
    with VisitFile.open(visit) as vf, LslPlayer(vf, name_suffix=suffix, clock=vc.clock, sleep=vc.sleep) as player:
        t0, real0 = vc.t, time.monotonic()
        missing = player.wait_for_consumers(30.0)
        assert missing == [p.lsl_name for p in player.published if p.stream]
        assert 30.0 <= vc.t - t0 <= 30.1 and time.monotonic() - real0 < 5.0  # virtual time, not 30 real s
        assert vc.sleeps and max(vc.sleeps) <= 0.05
        stop = threading.Event()
        stop.set()
        t1, n = vc.t, len(vc.sleeps)
        assert player.wait_for_consumers(30.0, stop=stop) == missing  # Ctrl-C: at once
        assert vc.t == t1 and len(vc.sleeps) == n


def test_a_stream_that_says_replay_without_a_sha256_is_refused() -> None:
    from acquisition.lsl.inlet import outlet_says_simulated, replay_sha256
    from acquisition.source import SourceError

    info = pylsl.StreamInfo("x", "EMG", 1, 100.0, pylsl.cf_int32, "sid")
    assert replay_sha256(info) is None and outlet_says_simulated(info) is False  # a live device's outlet
    info.desc().append_child("acquisition").append_child_value("simulated", "true")
    info.desc().append_child("replay").append_child_value("sha256", "not-a-digest")
    assert outlet_says_simulated(info) is True
    with pytest.raises(SourceError, match="says it is a replay .* but gives no SHA-256"):
        replay_sha256(info)
