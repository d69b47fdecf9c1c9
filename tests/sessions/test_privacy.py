"""A scanner export named after the patient leaves no trace of the name in the visit file."""

from __future__ import annotations

import time
from pathlib import Path

import h5py

from acquisition.config import AcqSettings
from sessions.manager import SessionManager
from sessions.privacy import pseudonymise_name, scrub_names
from sessions.scan_encoding import encode_capture
from sessions.simulated_rig import SimulatedRig
from sessions.subject import VisitIdentity

PATIENT = "DUPONT_Marie"


def _all_text(path: Path) -> str:
    """Every attribute and every string cell of the file, decoded."""
    parts: list[str] = []

    def visit(name: str, obj: object) -> None:
        parts.append(name)
        for k, v in obj.attrs.items():  # type: ignore[attr-defined]
            parts.append(f"{k}={v!r}")
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in ("O", "V", "S", "U"):
            parts.append(repr(obj[()]))

    with h5py.File(path, "r") as f:
        for k, v in f.attrs.items():
            parts.append(f"{k}={v!r}")
        f.visititems(visit)
    return "\n".join(parts)


def test_pseudonyms_are_stable_and_keep_the_extension() -> None:
    a = pseudonymise_name(f"/exports/{PATIENT}/{PATIENT}_max_opening_1.obj")
    assert a == pseudonymise_name(f"{PATIENT}_max_opening_1.obj") and a.endswith(".obj") and PATIENT not in a
    scrubbed = scrub_names({"file": f"{PATIENT}.obj", "problem": f"{PATIENT}.obj: last line is cut short",
                            "files": [f"{PATIENT}.mtl"], "aperture_mm": 30.0})
    assert PATIENT not in repr(scrubbed) and scrubbed["aperture_mm"] == 30.0


def test_patient_named_exports_do_not_reach_the_visit_file(tmp_path: Path) -> None:
    settings = AcqSettings(data_dir=tmp_path / "data", compaction_interval_s=0.3, lsl_outlets=False)
    ident = VisitIdentity.checked(subject="PRV-001", visit="D0", operator="ci", site="SIM")
    with SimulatedRig(seed=5) as rig:
        session = SessionManager.open(settings, ident, simulated=True, scan_encoder=encode_capture)
        session.add_scanner(rig.scanner())
        session.start_step("scan_max_opening")
        rig.take_scan("max_opening", 1, fmt="obj", stem=f"{PATIENT}_max_opening_1")
        rig.take_scan("max_opening", 2, fmt="obj", stem=f"{PATIENT}_broken", fault="truncated")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            st = session.status()["sources"]["scanner"]["counters"]
            if st.get("captures_ingested", 0) >= 1 and st.get("captures_rejected", 0) >= 1:
                break
            time.sleep(0.2)
        sealed = session.close()
    text = _all_text(sealed.path)
    assert "max_opening_1" in text  # the capture is there
    assert "scan.rejected" in text  # and the broken one was reported
    assert PATIENT not in text and "DUPONT" not in text
