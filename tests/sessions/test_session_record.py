"""A visit recorded end to end through the session manager: journal -> incremental HDF5 -> sealed file."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from acquisition.config import AcqSettings
from acquisition.visitfile.manifest import check_manifest, read_manifest
from acquisition.visitfile.verify import verify_file
from sessions.manager import SessionError, SessionManager
from sessions.subject import VisitIdentity
from sessions.visit_store import VisitExists
from tests.sessions.helpers import open_session, ramp_source


def test_record_and_seal(tmp_path: Path) -> None:
    s = open_session(tmp_path)
    s.add_source(ramp_source("ramp", 3, 1000.0))
    s.add_source(ramp_source("ramp2", 2, 250.0))
    s.start_step("emg_rest", duration_s=1.0)
    time.sleep(0.6)
    s.marker("note.added", text="patient coughed")
    time.sleep(0.6)
    sealed = s.close()

    assert sealed.path == tmp_path / "ABC-001_D0.h5"
    assert sealed.report.ok, sealed.report.problems
    assert not os.stat(sealed.path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert read_manifest(tmp_path) == {"ABC-001_D0.h5": sealed.sha256}
    assert check_manifest(tmp_path) == []
    with h5py.File(sealed.path, "r") as f:
        assert f.attrs["subject"] == "ABC-001" and f.attrs["visit"] == "D0"
        assert bool(f.attrs["simulated"]) is True
        assert f.attrs["state"] == "sealed"
        data = f["streams/ramp/data"][:]
        seq = f["streams/ramp/device_seq"][:]
        # RampGenerator: value = seq * c + channel -> every sample is the right one, in order, none missing
        assert np.array_equal(seq, np.arange(len(seq)))
        assert np.array_equal(data, seq[:, None] * 3 + np.arange(3))
        assert len(seq) > 900
        assert json.loads(f["streams/ramp"].attrs["channels"]) == ["c0", "c1", "c2"]
        names = [n.decode() if isinstance(n, bytes) else n for n in f["events/table"]["name"]]
        assert "note.added" in names and "step.started" in names and "visit.closed" in names
        qc = json.loads(f["qc"].attrs["streams"])
        assert qc["ramp"]["missing_by_seq"] == 0 and qc["ramp"]["received"] == len(seq)


def test_existing_visit_never_overwritten(tmp_path: Path) -> None:
    s = open_session(tmp_path)
    s.add_source(ramp_source())
    time.sleep(0.2)
    sealed = s.close()
    digest = sealed.sha256
    with pytest.raises(VisitExists, match="never overwritten"):
        open_session(tmp_path)
    assert read_manifest(tmp_path)["ABC-001_D0.h5"] == digest
    assert verify_file(sealed.path).ok


def test_open_visit_blocks_second_session(tmp_path: Path) -> None:
    s = open_session(tmp_path)
    with pytest.raises(VisitExists, match="recover"):
        open_session(tmp_path)
    s.close()


def test_production_refuses_simulated(tmp_path: Path) -> None:
    settings = AcqSettings(data_dir=tmp_path, production=True)
    ident = VisitIdentity.checked(subject="ABC-001", visit="D0", operator="t", site="SIM")
    with pytest.raises(SessionError, match="production"):
        SessionManager.open(settings, ident, simulated=True)
    assert not (tmp_path / ".open").exists()


def test_failing_source_is_reported_and_recording_goes_on(tmp_path: Path) -> None:
    class Flaky:
        def __init__(self) -> None:
            self.inner = ramp_source("flaky", 1, 500.0)
            self.calls = 0

        name = "flaky"

        @property
        def streams(self):  # noqa: ANN201
            return self.inner.streams

        def open(self) -> None:
            self.inner.open()

        def read(self, timeout: float):  # noqa: ANN201
            self.calls += 1
            if self.calls == 3:
                raise OSError("device unplugged")
            return self.inner.read(timeout)

        def drain_events(self):  # noqa: ANN201
            return []

        def counters(self):  # noqa: ANN201
            return {}

        def close(self) -> None:
            self.inner.close()

    s = open_session(tmp_path)
    s.add_source(Flaky())
    s.add_source(ramp_source("steady", 1, 500.0))
    time.sleep(0.8)
    sealed = s.close()
    assert sealed.report.ok
    with h5py.File(sealed.path, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["events/table"]["name"]]
        assert "source.read_failed" in names
        assert f["streams/flaky/data"].shape[0] > 100 and f["streams/steady/data"].shape[0] > 100


def test_step_after_close_refused(tmp_path: Path) -> None:
    s = open_session(tmp_path)
    s.close()
    with pytest.raises(SessionError):
        s.start_step("emg_rest")


def test_samples_still_queued_at_stop_are_recorded(tmp_path: Path) -> None:
    """A driver's decoder hands over its last frames as it stops: they reach the file (QC frames == stored)."""
    from tests.sessions.fake_sources import QueuedSource

    s = open_session(tmp_path)
    src = QueuedSource("queued", 1000.0, tail=37)
    s.add_source(src)
    time.sleep(0.5)
    sealed = s.close()
    assert src.closed
    with h5py.File(sealed.path, "r") as f:
        seq = f["streams/queued/device_seq"][:]
        sources = json.loads(f["qc"].attrs["sources"])
    assert sources[src.name]["frames"] == src.counters()["frames"] == len(seq)
    assert np.array_equal(seq, np.arange(len(seq)))


@pytest.mark.parametrize("what_fails", ["streams", "everything"])
def test_journal_write_failure_fails_the_visit_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       what_fails: str) -> None:
    """A full disk: state `failed` at once, readers stop cleanly, every later call is one clear SessionError."""
    import errno
    import threading

    import acquisition.journal.writer as jw
    from acquisition.journal import Journal, JournalFormatError, decode_chunk, decode_event, is_chunk_payload, scan_log
    from sessions.manager import SessionState

    s = open_session(tmp_path)
    s.add_source(ramp_source("ramp", 2, 500.0))
    s.add_source(ramp_source("ramp2", 1, 250.0))
    s.start_step("emg_rest")
    time.sleep(0.4)
    real = jw._write_all
    full = threading.Event()

    def write_all(fd: int, header: bytes, payload: bytes) -> None:
        if full.is_set() and (what_fails == "everything" or is_chunk_payload(payload)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, header, payload)

    died: list[object] = []
    monkeypatch.setattr(jw, "_write_all", write_all)
    monkeypatch.setattr(threading, "excepthook", died.append)
    full.set()
    t_full = time.monotonic()
    while s.state is not SessionState.failed and time.monotonic() - t_full < 2.0:
        time.sleep(0.01)
    assert s.state is SessionState.failed
    assert time.monotonic() - t_full < 0.5
    readers = [r.thread for r in s._readers.values()]
    for t in readers:
        t.join(timeout=2.0)
    assert not any(t.is_alive() for t in readers)
    jdir = s.store.journal_dir(s.key)
    with pytest.raises(SessionError) as e1:
        s.start_step("emg_cotton_roll")
    msg = str(e1.value)
    assert "\n" not in msg
    assert msg.startswith("visit ABC-001_D0 failed: journal write failed: No space left on device; ")
    assert f"is in the journal at {jdir}" in msg and "run amuse-acq recover when space is free" in msg
    with pytest.raises(SessionError, match="^visit ABC-001_D0 failed: journal write failed"):
        s.marker("note.added", text="x")
    with pytest.raises(SessionError) as e2:
        s.close()
    assert str(e2.value) == msg
    with pytest.raises(SessionError) as e3:
        s.close()
    assert str(e3.value) == msg
    assert died == [], "no thread may end with an exception"
    assert s.status()["state"] == "failed" and not s.all_progressing()
    full.clear()
    Journal(jdir).close()  # the failed visit let go of its journal: recover can take it
    kept = [p for p in scan_log(jdir / "streams" / "ramp", final=True).records if is_chunk_payload(p)]
    assert sum(decode_chunk(p).n for p in kept) > 100  # what was recorded is kept
    names = []
    for p in scan_log(jdir / "events", final=True).records:
        with contextlib.suppress(JournalFormatError, ValueError):  # the log may hold copies of the visit record
            names.append(decode_event(p).name)
    assert ("visit.failed" in names) == (what_fails == "streams")


def test_failed_compactor_is_rebuilt_at_close_with_the_visit_writer_options(tmp_path: Path) -> None:
    s = open_session(tmp_path, compression="lzf")
    s.add_source(ramp_source("ramp", 2, 500.0))

    def boom(*, final: bool = False) -> int:
        raise OSError("simulated HDF5 failure")

    s.compactor.run_once = boom  # type: ignore[method-assign]
    time.sleep(0.6)
    assert s._compactor_error is not None and not s.all_progressing()
    sealed = s.close()
    assert sealed.report.ok, sealed.report.problems
    with h5py.File(sealed.path, "r") as f:
        d = f["streams/ramp/data"]
        assert d.compression == "lzf" and d.shape[0] > 200
        assert np.array_equal(f["streams/ramp/device_seq"][:], np.arange(d.shape[0]))
