"""The one reader of the visit file: typed access to everything a file holds, one error class for a file it cannot
trust, a file that hangs HDF5 cannot hang the caller, and the docs' snippet runs against a real file."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import get_args

import h5py
import numpy as np
import pytest

from acquisition.chunk import Chunk
from acquisition.events import DeviceEventName, Event
from acquisition.stream import DeviceIdentity, StreamSpec
from acquisition.visitfile.reader import (
    Gap,
    UnknownSchemaVersion,
    VisitFile,
    VisitFileDamaged,
    VisitFileError,
    VisitFileHung,
    VisitFileNameMismatch,
    VisitFileNotSealed,
    VisitFileUnreadable,
)
from acquisition.visitfile.seal import seal_file
from acquisition.visitfile.writer import VisitFileWriter
from tests.acquisition.visit_files import flip_chunk_byte, read_only, writable

DOC = Path(__file__).resolve().parents[2] / "docs" / "reading-a-visit.md"
KEY = "ABC-001_D0"
N_EMG = 4000  # 1 kHz from t = 100 s
EMG_SCALE, EMG_OFFSET = 0.25, -512.0
# (repetition, start, end) of emg_clench_icp, on the LSL clock
REPS = [(1, 100.5, 101.0), (2, 101.5, 102.0), (3, 102.5, 103.0)]


def _ev(t: float, kind: str, name: str, step: str = "", **payload: object) -> Event:
    return Event(t_lsl=t, utc=f"2026-01-01T00:01:{t - 60:06.3f}Z", kind=kind, name=name, step=step,  # type: ignore[arg-type]
                 payload=payload)


def build_visit(data_dir: Path) -> Path:
    """A sealed visit as the session writes one: EMG in ADC codes, a jaw stream without read stamps and with a gap,
    three repetitions of a step, a marker and a device event inside the second, a scan, calibration, QC."""
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = data_dir / f"{KEY}.h5.partial"
    attrs = {"software_version": "t", "site": "SIM", "subject": "ABC-001", "visit": "D0", "operator": "tech1",
             "started_utc": "2026-01-01T00:00:00Z", "closed_utc": "", "state": "recording", "simulated": True,
             "config": json.dumps({"site": "SIM"}), "boot_id": "boot-1", "started_t_lsl": 99.0}
    w = VisitFileWriter(partial, attrs)
    dev = DeviceIdentity(model="BITalino (r)evolution", serial="SIM-BIT-1", simulated=True)
    w.add_stream(StreamSpec(name="emg", kind="emg", channels=("masseter_l", "masseter_r"), units=("uV", "uV"),
                            dtype="uint16", nominal_rate=1000.0, scale=(EMG_SCALE,) * 2, offset=(EMG_OFFSET,) * 2,
                            raw_units="adc_code", device=dev))
    w.add_stream(StreamSpec(name="jaw", kind="jaw", channels=("x", "y", "z"), units=("mm",) * 3, dtype="float32",
                            nominal_rate=40.0, device=DeviceIdentity(model="Aurora", serial="SIM-AUR")))
    i = np.arange(N_EMG)
    codes = np.stack([i % 1024, (3 * i) % 1024], axis=1).astype(np.uint16)
    w.append(Chunk.build("emg", codes, i, 100.0 + i / 1000.0, 100.0005 + i / 1000.0))
    seq = np.concatenate([np.arange(0, 50), np.arange(53, 160)])
    w.append(Chunk.build("jaw", np.tile(seq[:, None], (1, 3)).astype(np.float32), seq, 100.0 + seq / 40.0))
    evs = [_ev(99.0, "visit_open", "visit.opened")]
    for rep, t0, t1 in REPS:
        evs += [_ev(t0, "step_start", "step.started", "emg_clench_icp", repetition=rep, duration_s=0.5),
                _ev(t1, "step_end", "step.ended", "emg_clench_icp", repetition=rep)]
    evs += [_ev(101.7, "marker", "clench.cue", "emg_clench_icp"),
            _ev(101.8, "device", "samples.missing", "emg_clench_icp", lost=2)]
    evs.sort(key=lambda e: e.t_lsl)
    w.add_events(evs)
    rng = np.random.default_rng(3)
    verts = rng.normal(0, 30, (200, 3))
    w.add_scan("max_opening_2", {"vertices": verts, "faces": rng.integers(0, 200, (300, 3))},
               {"condition": "max_opening", "repetition": 2, "units": "mm", "capture_utc": "2026-01-01T00:02:00Z",
                "metrics": {"aperture_mm": 41.5}, "warnings": [], "landmarks": {"pronasale": [0.0, 1.0, 2.0]},
                "source_files": [{"name": "capture_1/mesh.obj", "role": "mesh", "sha256": "ab" * 32, "bytes": 9}]})
    w.write_calibration([{"id": "emg_noise", "kind": "emg_noise_floor", "device_serial": "SIM-BIT-1",
                          "values": {"rms_uv": 2.0}}])
    w.write_outcomes([("emg_clench_icp", "rms", 123.5, "uV", "m-1")])
    w.write_qc({"streams": {"emg": {"received": N_EMG}}, "journal_damage_bytes": {"meta": 0}})
    w.finish({"closed_utc": "2026-01-01T00:05:00Z", "state": "sealed"})
    final = data_dir / f"{KEY}.h5"
    seal_file(partial, final, data_dir=data_dir, expected=w.tallies, expected_events=w.n_events)
    return final


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_visit(tmp_path_factory.mktemp("reader") / "data")


@pytest.fixture()
def copy(sealed: Path, tmp_path: Path) -> Path:
    """A writable-by-the-test copy, to damage."""
    d = tmp_path / "data"
    d.mkdir()
    shutil.copy2(sealed, d / sealed.name)
    return d / sealed.name


def _edit(path: Path, fn) -> None:  # type: ignore[no-untyped-def]
    writable(path)
    with h5py.File(path, "r+") as f:
        fn(f)
    read_only(path)


# -- the docs ------------------------------------------------------------------------------------------------
def test_the_snippet_in_the_docs_runs_against_a_real_file(sealed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    code, n = re.subn(r'^path = ".*?"', f"path = {str(sealed)!r}", blocks[0], flags=re.M)
    assert n == 1
    exec(compile(code, str(DOC), "exec"), {"__name__": "__doc_snippet__"})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ABC-001 D0 SIM sealed simulated"
    assert "emg emg 4000 samples at 1000.0 Hz, 0 gap(s)" in out and "jaw jaw 157 samples at 40.0 Hz, 1 gap(s)" in out
    assert out[3] == "('masseter_l', 'masseter_r') ('uV', 'uV')"
    # rows 1500..1999 of the ramp, in uV
    i = np.arange(1500, 2000)
    mean = [float(np.mean((i % 1024) * EMG_SCALE + EMG_OFFSET)), float(np.mean((3 * i % 1024) * EMG_SCALE + EMG_OFFSET))]
    assert out[4] == f"101.5 (500, 2) {np.array(mean)}"
    assert out[5:9] == ["101.500 step_start step.started {'duration_s': 0.5, 'repetition': 2}",
                        "101.700 marker clench.cue {}", "101.800 device samples.missing {'lost': 2}",
                        "102.000 step_end step.ended {'repetition': 2}"]
    assert out[9] == "max_opening_2 max_opening 2 (200, 3) {'aperture_mm': 41.5}"
    assert len(out) == 10


# -- typed access ----------------------------------------------------------------------------------------------
def test_identity_and_stream_description(sealed: Path) -> None:
    with VisitFile.open(sealed) as vf:
        who = vf.identity
        assert (who.subject, who.visit, who.state, who.simulated, who.key) == ("ABC-001", "D0", "sealed", True, KEY)
        assert who.config == {"site": "SIM"} and who.started_t_lsl == 99.0 and who.recovered_utc is None
        assert who.n_events == 9
        assert list(vf.streams) == ["emg", "jaw"]
        emg = vf.streams["emg"]
        assert emg.spec.channels == ("masseter_l", "masseter_r") and emg.spec.scale == (EMG_SCALE, EMG_SCALE)
        assert emg.spec.device.serial == "SIM-BIT-1" and len(emg) == N_EMG


def test_samples_by_index_and_time_raw_and_physical(sealed: Path) -> None:
    with VisitFile.open(sealed) as vf:
        emg = vf.streams["emg"]
        raw = emg.read(10, 13)
        assert raw.dtype == np.uint16 and raw.tolist() == [[10, 30], [11, 33], [12, 36]]
        assert emg.physical(10, 13).tolist() == (raw.astype(float) * EMG_SCALE + EMG_OFFSET).tolist()
        assert emg.device_seq(-2).tolist() == [N_EMG - 2, N_EMG - 1]
        # half-open in time: 100.010 is in, 100.013 is out
        s = emg.read_time(100.010, 100.013)
        assert s.start == 10 and s.device_seq.tolist() == [10, 11, 12] and s.data.tolist() == raw.tolist()
        assert np.allclose(s.t_lsl, [100.010, 100.011, 100.012])
        assert emg.read_time(200.0, 300.0).data.shape == (0, 2)
        assert np.allclose(emg.t_read(0, 2), [100.0005, 100.0015])
        jaw = vf.streams["jaw"]
        assert jaw.t_read() is None and not jaw.has_t_read
        assert jaw.gaps == [Gap(after_seq=49, missing=3, t_before=100.0 + 49 / 40, t_after=100.0 + 53 / 40)]
        assert jaw.samples_missing == 3
        assert jaw.read(0, 1, physical=True).dtype == np.float64  # no scale: physical = raw, as float64


def test_time_range_of_a_stream_whose_stamps_step_back(copy: Path) -> None:
    _edit(copy, lambda f: f["streams/jaw/t_lsl"].__setitem__(slice(0, 3), [100.2, 100.0, 100.05]))
    with VisitFile.open(copy) as vf:  # the edit breaks the digests, but not the unverified open
        assert vf.streams["jaw"].index_range(100.0, 100.06) == (1, 3)
        assert vf.streams["jaw"].index_range(500.0, 501.0) == (0, 0)


def test_events_filtered_by_kind_name_step_and_repetition(sealed: Path) -> None:
    with VisitFile.open(sealed) as vf:
        assert len(vf.events()) == 9 and all(isinstance(e, Event) for e in vf.events())
        assert [e.name for e in vf.events(kind="device")] == ["samples.missing"]
        # the fixture speaks the drivers' standard vocabulary (acquisition/events.py), not an old name
        assert {e.name for e in vf.events(kind="device")} <= set(get_args(DeviceEventName))
        assert [e.t_lsl for e in vf.events(name="step.started")] == [100.5, 101.5, 102.5]
        assert len(vf.events(step="emg_clench_icp")) == 8
        assert [e.name for e in vf.events(step="emg_clench_icp", repetition=2)] == [
            "step.started", "clench.cue", "samples.missing", "step.ended"]
        assert [e.t_lsl for e in vf.events(repetition=3)] == [102.5, 103.0]
        assert vf.events(kind="marker", repetition=1) == []
        assert vf.step_intervals() == [("emg_clench_icp", r, t0, t1) for r, t0, t1 in REPS]


def test_scans_calibration_qc_outcomes(sealed: Path) -> None:
    with VisitFile.open(sealed) as vf:
        scan = vf.scans["max_opening_2"]
        assert scan.attrs.condition == "max_opening" and scan.attrs.repetition == 2
        assert scan.attrs.landmarks == {"pronasale": [0.0, 1.0, 2.0]} and scan.metrics == {"aperture_mm": 41.5}
        assert [(s.name, s.role, s.bytes) for s in scan.source_files] == [("capture_1/mesh.obj", "mesh", 9)]
        v = scan.vertices()
        assert v is not None and v.shape == (200, 3) and scan.n_vertices == 200
        assert scan.faces().shape == (300, 3) and scan.texture() is None and scan.photos() == {}  # type: ignore[union-attr]
        assert [(c.id, c.kind, c.values) for c in vf.calibration] == [("emg_noise", "emg_noise_floor",
                                                                      {"rms_uv": 2.0})]
        assert vf.qc == {"streams": {"emg": {"received": N_EMG}}, "journal_damage_bytes": {"meta": 0}}
        assert [(o.metric, o.value) for o in vf.outcomes] == [("rms", 123.5)]


# -- refusals ----------------------------------------------------------------------------------------------------
def test_an_unknown_schema_version_is_refused(copy: Path) -> None:
    _edit(copy, lambda f: f.attrs.__setitem__("schema_version", 3))
    with pytest.raises(UnknownSchemaVersion) as e:
        VisitFile.open(copy)
    assert str(e.value) == (f"{KEY}.h5: schema_version is 3, expected 2: this software reads only schema v2 files "
                            "(see docs/file-format.md)")


def test_a_file_not_sealed_is_refused_unless_asked(copy: Path) -> None:
    _edit(copy, lambda f: f.attrs.__setitem__("state", "recording"))
    with pytest.raises(VisitFileNotSealed, match=r"state is 'recording', expected one of \('sealed', 'recovered'\)"):
        VisitFile.open(copy)
    with VisitFile.open(copy, require_sealed=False) as vf:
        assert vf.identity.state == "recording"


def test_a_renamed_copy_is_refused(copy: Path) -> None:
    other = copy.with_name("ABC-002_D0.h5")
    copy.rename(other)
    with pytest.raises(VisitFileNameMismatch) as e:
        VisitFile.open(other)
    assert e.value.reason == ("file name 'ABC-002_D0.h5' does not match the file's own subject 'ABC-001' and visit "
                              "'D0': expected ABC-001_D0.h5")


@pytest.mark.parametrize("damage", ["truncated", "superblock"])
def test_a_file_hdf5_cannot_open_is_refused(copy: Path, damage: str) -> None:
    raw = copy.read_bytes()
    writable(copy)
    copy.write_bytes(raw[:20000] if damage == "truncated" else b"\0" * 8 + raw[8:])
    for probe in (10.0, None):  # the child's message and the in-process one are the same
        with pytest.raises(VisitFileUnreadable, match=r"^ABC-001_D0.h5: not a readable HDF5 file \(OSError: Unable "
                                                      r"to synchronously open file \("):
            VisitFile.open(copy, probe_timeout_s=probe)


def test_a_missing_identity_attribute_is_damage(copy: Path) -> None:
    _edit(copy, lambda f: f.attrs.__delitem__("operator"))
    with pytest.raises(VisitFileDamaged, match=r"root attributes do not describe a visit \(operator: Field required"):
        VisitFile.open(copy)


def test_quick_verification_catches_an_edited_attribute(copy: Path) -> None:
    spec = json.loads(h5py.File(copy, "r")["streams/emg"].attrs["spec"])
    spec["scale"] = [0.5, 0.5]
    _edit(copy, lambda f: f["streams/emg"].attrs.__setitem__("spec", json.dumps(spec)))
    with VisitFile.open(copy) as vf:
        assert vf.streams["emg"].spec.scale == (0.5, 0.5)  # unverified: read as it is
    with pytest.raises(VisitFileDamaged, match=r"its content changed after it was written \(/streams/emg: "
                                               r"attributes differ from the recorded digest tree\)"):
        VisitFile.open(copy, verify="quick")


def test_only_full_verification_reads_every_sample(copy: Path) -> None:
    flip_chunk_byte(copy, "streams/emg/data", 0)
    VisitFile.open(copy, verify="quick").close()  # the digest tree holds the recorded block digests only
    with pytest.raises(VisitFileDamaged, match=r"verification found 1 problem\(s\), the first: /streams/emg/data "
                                               r"block 0 \(rows 0-"):
        VisitFile.open(copy, verify="full")


def test_every_refusal_is_one_error_class() -> None:
    for cls in (VisitFileUnreadable, VisitFileHung, UnknownSchemaVersion, VisitFileNotSealed,
                VisitFileNameMismatch, VisitFileDamaged):
        assert issubclass(cls, VisitFileError)


# -- a file that hangs HDF5 --------------------------------------------------------------------------------------
@pytest.mark.parametrize("threads", [False, True], ids=["forked", "spawned"])
def test_a_file_that_hangs_hdf5_cannot_hang_the_caller(tmp_path: Path, threads: bool) -> None:
    fifo = tmp_path / f"{KEY}.h5"  # opening a FIFO blocks in the kernel, as a file on a dead mount does
    os.mkfifo(fifo)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    if threads:
        t.start()  # a second thread: the probe must spawn, not fork
    try:
        t0 = time.monotonic()
        with pytest.raises(VisitFileHung) as e:
            VisitFile.open(fifo, probe_timeout_s=1.0)
        assert 1.0 <= time.monotonic() - t0 < 4.0
    finally:
        stop.set()
    assert str(e.value) == (f"{KEY}.h5: HDF5 did not open it within 1 s (a dead network mount or a pathological "
                            "file); it was not opened in this process")


def test_inspect_and_verify_do_not_hang_on_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import acquisition.visitfile.reader._probe as probe_mod
    from sessions.inspect import inspect_file
    from sessions.verify_command import run_verify

    import acquisition.visitfile.isolated_verify as isolated

    monkeypatch.setattr(probe_mod.probe, "__defaults__", (1.0,))
    monkeypatch.setattr(isolated.verify_isolated, "__kwdefaults__", {"open_timeout_s": 1.0, "fork": None})
    monkeypatch.setattr(VisitFile.open.__func__, "__kwdefaults__",  # type: ignore[attr-defined]
                        {**VisitFile.open.__func__.__kwdefaults__, "probe_timeout_s": 1.0})  # type: ignore[attr-defined]
    data = tmp_path / "data"
    build_visit(data)
    os.mkfifo(data / "ABC-002_D0.h5")
    res = inspect_file(data / "ABC-002_D0.h5")
    assert not res.ok and res.error == ("ABC-002_D0.h5: HDF5 did not open it within 1 s (a dead network mount or a "
                                        "pathological file); it was not opened in this process")
    lines: list[str] = []
    assert run_verify(data, out=lines.append) == 1
    assert lines[0].startswith(f"OK  {KEY}.h5  (2 streams, 4157 samples;")
    assert lines[1] == "FAILED  ABC-002_D0.h5  (0 streams, 0 samples; 3 problem(s))"
    assert lines[2:5] == [
        "FAILED  ABC-002_D0.h5: not checked: HDF5 did not open it within 1 s (a dead network mount or a pathological "
        "file); it was not opened in this process",
        "FAILED  ABC-002_D0.h5: visit file not listed in MANIFEST.sha256",
        "FAILED  ABC-002_D0.h5: visit file not listed in MANIFEST.content"]
    assert lines[-1].startswith("verify: FAILED: 1 of 2 visit file(s) failed")


# -- a visit the session recorded ----------------------------------------------------------------------------------
def test_a_session_visit_reads_back_with_its_repetitions(tmp_path: Path) -> None:
    from tests.sessions.helpers import open_session, ramp_source

    s = open_session(tmp_path / "data")
    s.add_source(ramp_source(rate=500.0))
    for rep in (1, 2):
        s.start_step("emg_rest", repetition=rep)
        time.sleep(0.3)
        s.marker("cue.shown", rep_seen=rep)
        time.sleep(0.2)
        s.end_step()
    sealed = s.close()
    with VisitFile.open(sealed.path, verify="full") as vf:
        assert vf.identity.state == "sealed"
        cues = vf.events(name="cue.shown", repetition=2)
        assert [e.payload for e in cues] == [{"rep_seen": 2}]
        (_, _, t0, t1), = [iv for iv in vf.step_intervals() if iv[1] == 2]
        ramp = vf.streams["ramp"]
        part = ramp.read_time(t0, t1, physical=True)
        assert 150 <= len(part.t_lsl) <= 300  # ~0.5 s at 500 Hz
        assert (part.t_lsl >= t0).all() and (part.t_lsl < t1).all()
        assert np.diff(part.device_seq).tolist() == [1] * (len(part.device_seq) - 1)


def test_a_file_already_open_in_this_process_opens_again(sealed: Path) -> None:
    # the forked probe shares this process's HDF5 state: its locking flags must be the same as the open handle's
    with VisitFile.open(sealed) as outer, VisitFile.open(sealed, verify="full") as inner:
        assert inner.streams["emg"].read(0, 1).tolist() == outer.streams["emg"].read(0, 1).tolist()
