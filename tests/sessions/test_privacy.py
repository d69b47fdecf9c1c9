"""A scanner export named after the patient leaves no trace of the name anywhere in the visit's record.

The visit below is what a careless vendor setting produces: every export (meshes with their MTL, texture and
landmark sidecar, a PLY, a truncated mesh, an OBJ whose texture never arrives, a stray note, and the 2D photos)
carries the patient's name. Every artefact of the visit is then searched for the name: the sealed file (object
names, attributes, every dataset's decoded bytes, the raw bytes of the file), every file left in the data
directory (the journal kept under `.sealed-journals/`, the manifest) and the log output at DEBUG level.
The same visit runs the serial instruments too (each unplugged once), so the record can be searched for the
demo's absolute paths.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from acquisition import log as acq_log
from acquisition.config import AcqSettings
from sessions.manager import SessionManager
from sessions.privacy import pseudonymise_name, scrub_names
from sessions.scan_encoding import encode_capture
from sessions.simulated_rig import SimulatedRig
from sessions.subject import VisitIdentity

PATIENT = "DUPONT_Marie"
NAME_PARTS = ("DUPONT", "Marie")
PHOTO_VIEWS = ("frontal", "profile", "three_quarter_l", "three_quarter_r", "Marie_closeup")
SCAN_ID = re.compile(r"^(rest|max_opening|max_lip_stretch|photo|unassigned)_\d{1,2}(_dup\d{1,3})?$")


def _variants(word: str) -> list[bytes]:
    return [v.encode() for v in {word, word.lower(), word.upper(), word.capitalize()}]


NEEDLES = [b for w in NAME_PARTS for b in _variants(w)]


def _found(blob: bytes, needles: list[bytes]) -> list[str]:
    return [n.decode() for n in needles if n in blob]


def _h5_leaks(path: Path, needles: list[bytes]) -> list[str]:
    """Every place of an HDF5 file holding a needle: object names, attribute names and values, dataset contents
    (decompressed: the raw bytes of a gzip chunk would hide them), and the raw bytes of the file."""
    hits: list[str] = []

    def check(where: str, blob: bytes) -> None:
        for n in _found(blob, needles):
            hits.append(f"{where}: {n}")

    def attrs(where: str, obj: h5py.HLObject) -> None:
        for k, v in obj.attrs.items():
            check(f"{where} attr name", k.encode())
            value = v.tobytes() if isinstance(v, np.ndarray) and v.dtype.kind != "O" else repr(v).encode()
            check(f"{where} attr {k}", value)

    def visit(name: str, obj: h5py.HLObject) -> None:
        check(f"name {name}", name.encode())
        attrs(name, obj)
        if isinstance(obj, h5py.Dataset):
            data = obj[()]
            if isinstance(data, np.ndarray) and data.dtype.kind not in ("O", "V"):
                check(f"{name} data", data.tobytes())
            check(f"{name} data", repr(data.tolist() if isinstance(data, np.ndarray) else data).encode())

    with h5py.File(path, "r") as f:
        attrs("/", f)
        f.visititems(visit)
    check("raw bytes", path.read_bytes())
    return hits


@dataclass
class Visit:
    sealed: Path
    data_dir: Path
    rig_workdir: Path
    export_folder: Path
    log: str
    rejected_problems: list[str]


@contextlib.contextmanager
def _captured_log() -> Iterator[io.StringIO]:
    """acquisition.log at DEBUG into a buffer (the logger writes to whatever sys.stderr is at call time)."""
    buf = io.StringIO()
    acq_log.configure(level="DEBUG", json=True)
    try:
        with contextlib.redirect_stderr(buf):
            yield buf
    finally:
        acq_log.configure()


@pytest.fixture(scope="module")
def visit(tmp_path_factory: pytest.TempPathFactory) -> Visit:
    data_dir = (tmp_path_factory.mktemp("privacy") / "data").resolve()
    settings = AcqSettings(data_dir=data_dir, create_data_dir=True, compaction_interval_s=0.3, lsl_outlets=False)
    ident = VisitIdentity.checked(subject="PRV-001", visit="D0", operator="ci", site="SIM")
    with _captured_log() as buf, SimulatedRig(seed=5) as rig:
        session = SessionManager.open(settings, ident, simulated=True, scan_encoder=encode_capture)
        session.start_step("preflight")
        for src in rig.sources():
            session.add_source(src)
        session.add_scanner(rig.scanner(orphan_timeout_s=1.0))
        session.end_step()
        session.start_step("scan_rest")
        for device in ("emg_a", "aurora", "plate"):  # device events name the port too: unplug them once
            rig.arm_fault(device, "unplug")
        rig.take_scan("rest", 1, fmt="obj", stem=f"{PATIENT}_rest_1")  # OBJ + MTL + PNG texture + JSON sidecar
        rig.take_scan("max_opening", 1, fmt="ply", stem=f"{PATIENT}_max_opening_1")
        rig.take_scan("rest", 2, fmt="obj", stem=f"{PATIENT}_rest_2", fault="truncated")
        rig.take_scan("rest", 3, fmt="obj", stem=f"{PATIENT}_rest_3", fault="missing_texture")
        (rig.scanner_folder / f"{PATIENT}_notes.txt").write_text(f"{PATIENT}: left eye closed\n")
        rig.take_photos(prefix=PATIENT, views=PHOTO_VIEWS)
        deadline = time.monotonic() + 40
        counters: dict[str, int] = {}
        while time.monotonic() < deadline:
            counters = session.status()["sources"]["scanner"]["counters"]
            if counters.get("captures_ingested", 0) >= 3 and counters.get("captures_rejected", 0) >= 3:
                break
            time.sleep(0.2)
        session.end_step()
        sealed = session.close()
        workdir, export = rig.workdir, rig.scanner_folder
    assert (counters["captures_ingested"], counters["captures_rejected"]) == (3, 3), counters
    with h5py.File(sealed.path, "r") as f:
        table = f["events/table"][:]
        problems = [json.loads(r["payload"])["problem"] for r in table if r["name"].decode() == "scan.rejected"]
    return Visit(sealed.path, data_dir, workdir, export, buf.getvalue(), problems)


def test_pseudonyms_are_stable_and_keep_the_extension() -> None:
    a = pseudonymise_name(f"/exports/{PATIENT}/{PATIENT}_max_opening_1.obj")
    assert a == pseudonymise_name(f"{PATIENT}_max_opening_1.obj") and a.endswith(".obj") and PATIENT not in a
    scrubbed = scrub_names({"file": f"{PATIENT}.obj", "problem": f"{PATIENT}.obj: last line is cut short",
                            "files": [f"{PATIENT}.mtl"], "aperture_mm": 30.0})
    assert PATIENT not in repr(scrubbed) and scrubbed["aperture_mm"] == 30.0


def test_the_visit_holds_what_the_scanner_exported(visit: Visit) -> None:
    """The search below is only worth something if the captures are in the file and the faults were reported."""
    with h5py.File(visit.sealed, "r") as f:
        scans = f["scans"]
        assert set(scans) == {"rest_1", "max_opening_1", "photo_1"}
        assert all(SCAN_ID.match(s) for s in scans)
        assert {"vertices", "faces", "texture", "uv"} <= set(scans["rest_1"])
        # photos are named by their role, or by their index when the name says no role
        assert set(scans["photo_1"]) == {"photo_frontal", "photo_profile", "photo_three_quarter_left",
                                         "photo_three_quarter_right", "photo_1"}
        assert json.loads(scans["photo_1"].attrs["photo_formats"]) == {
            "frontal": "png", "profile": "png", "three_quarter_left": "png", "three_quarter_right": "png", "1": "png"}
        src = json.loads(scans["rest_1"].attrs["source_files"])
        assert sorted(s["role"] for s in src) == ["landmarks", "material", "mesh", "texture"]
        assert all(len(s["sha256"]) == 64 for s in src)  # the content hash ties the record to ingested/
    assert len(visit.rejected_problems) == 3
    text = " | ".join(visit.rejected_problems)
    assert "cut short" in text and "texture" in text and "no mesh or photo set" in text


def test_the_patient_name_is_nowhere_in_the_sealed_file(visit: Visit) -> None:
    assert _h5_leaks(visit.sealed, NEEDLES) == []


def test_the_patient_name_is_nowhere_in_the_data_dir(visit: Visit) -> None:
    """The journal kept under .sealed-journals/, the manifest, any other file: raw bytes and path names."""
    files = [p for p in visit.data_dir.rglob("*") if p.is_file()]
    assert any(".sealed-journals" in p.parts and "scans" in p.parts for p in files)
    hits = [f"{p}: {n}" for p in files for n in _found(p.read_bytes(), NEEDLES)]
    hits += [f"path {p}" for p in visit.data_dir.rglob("*") if _found(str(p.relative_to(visit.data_dir)).encode(),
                                                                       NEEDLES)]
    assert hits == []


def test_the_patient_name_is_nowhere_in_the_log(visit: Visit) -> None:
    assert '"scan.ingested"' in visit.log and '"scan.rejected"' in visit.log  # DEBUG/INFO lines were captured
    lines = [ln for ln in visit.log.splitlines() if _found(ln.encode(), NEEDLES)]
    assert lines == []


def test_the_record_holds_no_absolute_path_of_the_rig(visit: Visit) -> None:
    """Device paths, the export folder and the data dir are the exam room's, not the trial's: a data manager needs
    `serial:bitalino_a` or `folder`, never `/tmp/amuse-rig-xxx/dev/bitalino_a`."""
    paths = ["/tmp/", "amuse-rig", str(visit.rig_workdir), str(visit.export_folder), str(visit.data_dir)]
    needles = [p.encode() for p in paths]
    assert _h5_leaks(visit.sealed, needles) == []
    journal = [p for p in (visit.data_dir / ".sealed-journals").rglob("*") if p.is_file()]
    assert journal
    assert [f"{p}: {n}" for p in journal for n in _found(p.read_bytes(), needles)] == []
    with h5py.File(visit.sealed, "r") as f:
        transports = {json.loads(g.attrs["device"])["transport"] for g in f["streams"].values()}
        config = json.loads(f.attrs["config"])
        events = {r["name"].decode() for r in f["events/table"][:]}
    assert "link.disconnected" in events  # the unplugs, which name their port, happened
    assert transports and all(t.startswith("serial:") and "/" not in t for t in transports), transports
    assert config["data_dir"] == "data"
