"""The session and sources as context managers, the data directory the manager refuses, its typed records."""

from __future__ import annotations

import json
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from pydantic import ValidationError

from acquisition.config import AcqSettings
from acquisition.source import ScanSource, Source, opened
from acquisition.visitfile.verify import verify_file
from sessions.data_dir import DataDirError
from sessions.manager import SessionManager, SessionState
from sessions.subject import VisitIdentity
from tests.sessions.fake_sources import QueuedSource, SwitchableSource
from tests.sessions.helpers import open_session


def _ident() -> VisitIdentity:
    return VisitIdentity.checked(subject="ABC-001", visit="D0", operator="tech1", site="SIM")


def test_leaving_the_block_seals_the_visit(tmp_path: Path) -> None:
    with open_session(tmp_path) as s:
        s.add_source(SwitchableSource("a", {"a": 200.0}))
        time.sleep(0.3)
    assert s.state is SessionState.sealed and s.sealed is not None
    assert verify_file(s.sealed.path).ok


def test_an_exception_in_the_block_seals_what_was_recorded_and_propagates(tmp_path: Path) -> None:
    src = QueuedSource("q", rate=500.0)
    with pytest.raises(RuntimeError, match="operator abort"):
        with open_session(tmp_path) as s:
            s.add_source(src)
            time.sleep(0.3)
            raise RuntimeError("operator abort")
    assert s.state is SessionState.sealed and s.sealed is not None and src.closed
    with h5py.File(s.sealed.path, "r") as f:
        seq = f["streams/q/device_seq"][:]
    assert len(seq) > 50 and np.array_equal(seq, np.arange(len(seq)))


def test_close_in_the_block_is_not_repeated(tmp_path: Path) -> None:
    with open_session(tmp_path) as s:
        sealed = s.close()
    assert s.sealed is sealed and s.state is SessionState.sealed


def test_opened_closes_a_source_on_an_exception() -> None:
    src = QueuedSource("q")
    assert isinstance(src, Source) and not isinstance(src, ScanSource)
    with pytest.raises(KeyError):
        with opened(src) as s:
            assert s is src and not src.closed
            raise KeyError("x")
    assert src.closed


def test_a_missing_data_dir_is_refused_unless_asked(tmp_path: Path) -> None:
    data = tmp_path / "mnt" / "data"
    with pytest.raises(DataDirError, match="does not exist"):
        SessionManager.open(AcqSettings(data_dir=data, lsl_outlets=False), _ident(), simulated=True)
    assert not (tmp_path / "mnt").exists()
    s = SessionManager.open(AcqSettings(data_dir=data, create_data_dir=True, lsl_outlets=False), _ident(),
                            simulated=True)
    assert s.close().path == data / "ABC-001_D0.h5"


def test_outcomes_are_typed_records(tmp_path: Path) -> None:
    s = open_session(tmp_path)
    with pytest.raises(ValidationError):
        s.record_outcomes([("emg_rest", "rms", "loud", "uV", "v1")])  # type: ignore[list-item]
    s.record_outcomes([("emg_rest", "rms", 1.5, "uV", "v1")])
    sealed = s.close()
    with h5py.File(sealed.path, "r") as f:
        rows = f["outcomes/table"][:]
        damage = json.loads(f["qc"].attrs["journal_damage"])
    assert len(rows) == 1 and float(rows[0][2]) == 1.5
    assert damage["ok"], damage  # the refused row never reached the journal


def test_numpy_counters_are_recorded_as_numbers(tmp_path: Path) -> None:
    class NumpyCounters(SwitchableSource):
        def counters(self) -> dict[str, int]:
            return {"frames": np.int64(7), "bad": np.uint32(0)}  # type: ignore[dict-item]

    s = open_session(tmp_path)
    s.add_source(NumpyCounters("n", {"n": 100.0}))
    time.sleep(0.2)
    sealed = s.close()
    with h5py.File(sealed.path, "r") as f:
        sources = json.loads(f["qc"].attrs["sources"])
    assert sources["n"] == {"frames": 7, "bad": 0, "read_errors": 0, "chunks_rejected": 0}


def test_a_failed_visit_is_said_and_released_on_leaving_the_block(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os
    import threading

    import acquisition.journal.writer as jw
    from acquisition.journal import Journal
    from sessions.session_errors import VisitFailed

    real = jw._write_all
    full = threading.Event()

    def write_all(fd: int, header: bytes, payload: bytes) -> None:
        if full.is_set():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, header, payload)

    monkeypatch.setattr(jw, "_write_all", write_all)
    with pytest.raises(VisitFailed, match="^visit ABC-001_D0 failed: journal write failed: No space left"):
        with open_session(tmp_path) as s:
            s.add_source(SwitchableSource("a", {"a": 200.0}))
            time.sleep(0.2)
            full.set()
            end = time.monotonic() + 2.0
            while s.state is not SessionState.failed and time.monotonic() < end:
                time.sleep(0.02)
    full.clear()
    assert s.state is SessionState.failed and s.sealed is None
    assert not (tmp_path / "ABC-001_D0.h5").exists()
    Journal(s.store.journal_dir(s.key)).close()  # let go of: `recover` can take it
