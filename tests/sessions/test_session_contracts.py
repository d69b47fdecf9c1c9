"""The session manager's contracts found soft by a review of issues 7 and 8.

- an error's text (with a path) never reaches an event: only its type and errno;
- the delivery-watch thresholds are settings (TOML, `AMUSE_*`, `amuse-acq config`);
- a compactor failure is said (event + live alert) and the visit records on, the file rebuilt at close;
- pseudonymisation is declared on the Source contract and honoured for plain sources too;
- production mode refuses a source whose device identity says simulated.
"""

from __future__ import annotations

import errno
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import pytest

from acquisition.config import AcqSettings
from acquisition.events import Event
from acquisition.lslenv import local_clock
from acquisition.source import emits_pseudonymous_names
from acquisition.stream import DeviceIdentity
from sessions.manager import SessionError, SessionManager, SessionState
from sessions.session_errors import error_summary
from sessions.subject import VisitIdentity
from tests.sessions.fake_sources import SwitchableSource

SECRET = "/tmp/amuse-secret-DUPONT_Marie/export"


def _settings(data: Path, **kw: Any) -> AcqSettings:
    return AcqSettings(data_dir=data, create_data_dir=True, compaction_interval_s=0.2, lsl_outlets=False, **kw)


def _open(data: Path, *, simulated: bool = True, **kw: Any) -> SessionManager:
    ident = VisitIdentity.checked(subject="ABC-001", visit="D0", operator="tech1", site="SIM")
    return SessionManager.open(_settings(data, **kw), ident, simulated=simulated)


def _events(path: Path) -> list[dict[str, Any]]:
    with h5py.File(path, "r") as f:
        rows = f["events/table"][:]
    return [{"name": r["name"].decode(), "stream": r["stream"].decode(), "payload": json.loads(r["payload"])}
            for r in rows]


def _all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


# -- 5. no error text (paths) in the record ---------------------------------------------------------------------
class FailingSource(SwitchableSource):
    """Delivers, then its reads raise an OSError naming a path (as a driver's port or file error would)."""

    def __init__(self, exc: BaseException, fail_reads: int = 3) -> None:
        super().__init__("failing", {"a": 100.0})
        self._exc = exc
        self.fail_reads = fail_reads

    def read(self, timeout: float) -> Sequence[Any]:
        if self.fail_reads > 0:
            self.fail_reads -= 1
            raise self._exc
        return super().read(timeout)


def test_error_summary_keeps_type_and_errno_only() -> None:
    assert error_summary(OSError(errno.EIO, "Input/output error", SECRET)) == "OSError [EIO] Input/output error"
    assert error_summary(OSError(f"cannot read {SECRET}")) == "OSError"
    assert error_summary(RuntimeError(SECRET)) == "RuntimeError"


@pytest.mark.parametrize("exc", [OSError(errno.EIO, "Input/output error", SECRET),
                                 OSError(f"cannot read {SECRET}/DUPONT_Marie_rest_1.obj")],
                         ids=["errno-with-filename", "message-with-path"])
def test_a_failing_read_stores_no_path_in_any_event(tmp_path: Path, exc: OSError) -> None:
    data = tmp_path / "data"
    s = _open(data)
    src = FailingSource(exc)
    s.add_source(src)
    deadline = time.monotonic() + 10  # three failed reads (FAIL_AFTER: `source.failed`), backoff 0.2+0.4+0.8 s
    while (src.fail_reads or s.status()["sources"]["failing"]["state"] != "running") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    sealed = s.close()
    evs = _events(sealed.path)
    failed = [e for e in evs if e["name"] == "source.read_failed"]
    assert len(failed) == 1 and [e["name"] for e in evs].count("source.failed") == 1
    expected = "OSError [EIO] Input/output error" if exc.errno else "OSError"
    assert failed[0]["payload"]["error"] == expected
    assert any(e["name"] == "source.recovered" for e in evs)
    secret = b"amuse-secret-DUPONT"
    assert secret not in sealed.path.read_bytes()
    assert secret not in _all_bytes(sealed.journal_archive)


def test_a_journal_error_text_stays_out_of_the_visit_failed_event(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A JournalError with no errno behind it (e.g. a refused record) names the segment's absolute path: only its
    type goes into `visit.failed`."""
    import acquisition.journal.writer as jw
    from acquisition.journal import JournalError
    from acquisition.journal.reader import LogCursor
    from acquisition.journal.chunk_codec import decode_event, is_chunk_payload
    from sessions.session_errors import VisitFailed

    data = tmp_path / "data"
    s = _open(data)
    real = jw.LogWriter.append

    def append(self: jw.LogWriter, payload: Any) -> None:
        if self.name.startswith("streams/") and is_chunk_payload(payload):  # a reader's chunk
            raise JournalError(f"log {self.name!r}: writing to {self.segment_path} ({SECRET}) failed")
        real(self, payload)

    monkeypatch.setattr(jw.LogWriter, "append", append)
    s.add_source(SwitchableSource("rig", {"a": 100.0}))
    deadline = time.monotonic() + 10
    while s.state is not SessionState.failed and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(VisitFailed) as ei:
        s.close()
    assert "journal write failed: JournalError" in str(ei.value)
    monkeypatch.undo()
    raw = [decode_event(p) for p in LogCursor(data / ".open" / "ABC-001_D0" / "journal" / "events").read_new(
        final=True)]
    [ev] = [e for e in raw if e.name == "visit.failed"]
    assert ev.payload["reason"] == "journal write failed: JournalError"
    assert b"amuse-secret" not in _all_bytes(data / ".open")
    assert str(data) not in json.dumps([e.payload for e in raw])


# -- 7. delivery-watch thresholds are settings -------------------------------------------------------------------
def test_watch_thresholds_come_from_settings(tmp_path: Path) -> None:
    s = _open(tmp_path / "data", stall_after_s=0.3, stall_after_intervals=2.0, gap_rate_warn=0.2,
              gap_rate_window_s=3.0, gap_rate_min_samples=20)
    src = SwitchableSource("rig", {"a": 100.0, "lossy": 100.0}, drop_every={"lossy": 3})  # a third lost
    s.add_source(src)
    time.sleep(0.5)
    src.on["a"] = False
    time.sleep(0.7)
    src.on["a"] = True
    time.sleep(0.3)
    sealed = s.close()
    evs = _events(sealed.path)
    [stalled] = [e for e in evs if e["name"] == "stream.stalled" and e["stream"] == "a"
                 and e["payload"].get("detected_by") == "session"]
    assert stalled["payload"]["threshold_s"] == 0.3  # the default would be 1.0 s: no stall in 0.7 s
    [gap] = [e for e in evs if e["name"] == "stream.gap_rate_high" and e["stream"] == "lossy"]
    assert gap["payload"]["threshold"] == 0.2 and gap["payload"]["window_s"] == 3.0


def test_watch_thresholds_are_shown_by_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from sessions.config_report import config_report

    toml = tmp_path / "site.toml"
    toml.write_text("gap_rate_warn = 0.05\n")
    monkeypatch.setenv("AMUSE_STALL_AFTER_S", "2.5")
    settings, origins = AcqSettings.load_explained(toml)
    report = config_report(settings, origins, config_file=toml, options={}).settings
    assert (report["stall_after_s"].value, report["stall_after_s"].source) == (2.5, "env")
    assert (report["gap_rate_warn"].value, report["gap_rate_warn"].source) == (0.05, "file")
    assert (report["gap_rate_window_s"].value, report["gap_rate_window_s"].source) == (10.0, "default")
    assert report["stall_after_intervals"].value == 10.0
    with pytest.raises(ValueError, match="gap_rate_warn"):
        AcqSettings(gap_rate_warn=1.5)


# -- 8. a compactor failure is said, and the visit records on ------------------------------------------------------
def test_compactor_failure_is_an_event_and_an_alert_and_the_visit_goes_on(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    s = _open(tmp_path / "data")
    src = SwitchableSource("rig", {"a": 200.0})
    s.add_source(src)
    time.sleep(0.3)

    def broken(**_: object) -> int:
        raise OSError(errno.EIO, "Input/output error", f"{SECRET}/ABC-001_D0.h5.partial")

    monkeypatch.setattr(s.compactor, "run_once", broken)
    deadline = time.monotonic() + 10
    alerts: list[Event] = []
    while not alerts and time.monotonic() < deadline:
        alerts = [a for a in s.drain_alerts() if a.name == "compactor.failed"]
        time.sleep(0.05)
    assert len(alerts) == 1 and alerts[0].payload["error"] == "OSError [EIO] Input/output error"
    assert "recording goes on" in alerts[0].payload["reason"]
    assert s.state is SessionState.recording and not s.all_progressing()
    n_at_failure = src.delivered["a"]
    time.sleep(0.5)
    sealed = s.close()  # rebuilt from the journal
    assert s.state is SessionState.sealed
    evs = _events(sealed.path)
    assert [e["name"] for e in evs].count("compactor.failed") == 1
    assert b"amuse-secret" not in sealed.path.read_bytes()
    with h5py.File(sealed.path, "r") as f:
        stored = f["streams/a/data"].shape[0]
    assert stored == src.delivered["a"] and stored > n_at_failure  # everything, also what came after


# -- 9. pseudonymisation declared on the Source contract ------------------------------------------------------------
class NamingSource(SwitchableSource):
    """A plain source whose events name a vendor file (under a NAME_KEYS key, and quoted in a message)."""

    def __init__(self, declares: bool | None) -> None:
        super().__init__("namer", {"a": 100.0})
        if declares is not None:
            self.emits_pseudonymous_names = declares
        self.events.append(Event(t_lsl=local_clock(), utc="", kind="device", name="file.seen", stream="a",
                                 payload={"file": "DUPONT_Marie_rest_1.obj",
                                          "detail": "cannot parse DUPONT_Marie_rest_1.obj"}))


def test_the_declaration_is_read_in_one_place() -> None:
    assert emits_pseudonymous_names(NamingSource(None)) is False
    assert emits_pseudonymous_names(NamingSource(False)) is False
    assert emits_pseudonymous_names(NamingSource(True)) is True

    class Truthy:
        emits_pseudonymous_names = "yes"

    assert emits_pseudonymous_names(Truthy()) is False  # a declaration is a bool True, nothing else


@pytest.mark.parametrize("declares", [None, False, True], ids=["absent", "false", "true"])
def test_a_plain_source_payload_is_scrubbed_unless_it_declares(tmp_path: Path, declares: bool | None) -> None:
    s = _open(tmp_path / "data")
    s.add_source(NamingSource(declares))
    time.sleep(0.3)
    sealed = s.close()
    [ev] = [e for e in _events(sealed.path) if e["name"] == "file.seen"]
    if declares:
        assert ev["payload"]["file"] == "DUPONT_Marie_rest_1.obj"  # it said its names are aliases
    else:
        assert ev["payload"]["file"].startswith("file-") and ev["payload"]["file"].endswith(".obj")
        assert "DUPONT" not in json.dumps(ev["payload"])
        assert b"DUPONT" not in sealed.path.read_bytes()


# -- 10. production mode and the device identity ---------------------------------------------------------------------
class IdentifiedSource(SwitchableSource):
    def __init__(self, *, simulated: bool) -> None:
        super().__init__("dev", {"a": 100.0})
        self._specs = [sp.model_copy(update={"device": DeviceIdentity(model="m", serial="S-1", simulated=simulated)})
                       for sp in self._specs]
        self.closed = False

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("production", [True, False])
def test_production_refuses_a_source_whose_identity_says_simulated(tmp_path: Path, production: bool) -> None:
    s = _open(tmp_path / "data", simulated=False, production=production)
    sim = IdentifiedSource(simulated=True)
    if production:
        with pytest.raises(SessionError, match="^production mode refuses simulated source 'dev'$"):
            s.add_source(sim)
        assert sim.closed and s.status()["sources"] == {}
        real = IdentifiedSource(simulated=False)
        s.add_source(real)  # a real device is accepted
        assert list(s.status()["sources"]) == ["dev"]
    else:
        s.add_source(sim)
        assert list(s.status()["sources"]) == ["dev"]
    time.sleep(0.2)
    sealed = s.close()
    with h5py.File(sealed.path, "r") as f:
        assert bool(f.attrs["simulated"]) is (not production)  # the file says a simulated source fed it


def test_a_full_disk_when_a_source_is_added_fails_the_visit_in_one_line(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream's description record is the first write of `add_source`: a full disk there used to escape as a
    raw `JournalError` (a traceback), with the visit neither failed nor recording."""
    import acquisition.journal.writer as jw
    from sessions.session_errors import VisitFailed

    data = tmp_path / "data"
    s = _open(data)

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(jw, "_write_all", full)
    src = IdentifiedSource(simulated=True)
    with pytest.raises(VisitFailed, match="^visit ABC-001_D0 failed: journal write failed: No space left on device"):
        s.add_source(src)
    assert s.state is SessionState.failed and src.closed
    with pytest.raises(VisitFailed):
        s.close()
    assert (data / ".open" / "ABC-001_D0" / "journal").is_dir()  # kept for recover
