"""`visit run` end to end on the simulated rig: a whole D0 and a W4 (no stabilometry) with the automatic operator,
the same path the demo takes; the files keep the pre-flight, every step's QC, the window decision and the audit."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessions.audit import verify_path
from sessions.protocol import default_protocol
from sessions.simulated_rig import SimulatedRig
from sessions.subject import VisitIdentity
from sessions.visit_auto import AutoOperator
from sessions.visit_run import check_window, run_visit
from tests.sessions.visit_run_helpers import SPEED, calibrate, run_record, settings

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def rig() -> Iterator[SimulatedRig]:
    with SimulatedRig(seed=7) as r:
        yield r


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, rig: SimulatedRig) -> Path:
    d = tmp_path_factory.mktemp("visits")
    calibrate(d, rig.usb_device.serial)
    return d


def _visit(data_dir: Path, rig: SimulatedRig, visit: str, *, at: _dt.datetime | None = None):  # noqa: ANN202
    s = settings(data_dir)
    ident = VisitIdentity.checked(subject="SIM-001", visit=visit, operator="tech1", site=s.site)
    decision = check_window(s, ident, at=at)
    lines: list[str] = []
    sealed = run_visit(s, ident, rig=rig.rig_sources(), protocol=default_protocol(),
                       operator=AutoOperator(speed=SPEED, hands=rig), decision=decision, say=lines.append)
    return sealed, lines


def test_a_whole_d0_then_a_w4_in_its_window(data_dir: Path, rig: SimulatedRig) -> None:
    sealed, lines = _visit(data_dir, rig, "D0")
    run, qc, events = run_record(sealed.path)
    planned = [s.name for s in default_protocol().protocol.for_visit(sealed_visit_code(sealed.path))]
    assert [s.name for s in run.steps] == planned and "stab_eyes_open" in planned
    assert run.outcome == "completed" and run.preflight == "passed" and run.sign_off.operator == "tech1"
    assert all(s.status == "done" and s.chosen is not None for s in run.steps), [(s.name, s.status) for s in run.steps]
    assert {g["name"]: g["status"] for g in qc["preflight"]["gates"]} == {
        "production_sources": "pass", "devices": "pass", "calibrations": "pass", "disk_space": "pass",
        "emg_rest_noise": "pass", "plate_unloaded": "pass", "lsl_clock": "not_applicable"}
    jaw = next(s for s in run.steps if s.name == "jaw_max_opening").attempts[-1].verdict
    assert jaw is not None and any(c.check == "jaw_opening" and c.status == "pass" for c in jaw.checks)
    stab = next(s for s in run.steps if s.name == "stab_eyes_open").attempts[-1].verdict
    assert stab is not None and any(c.check == "plate_loaded" and c.status == "pass" for c in stab.checks)
    window = [e for e in events if e.name == "visit.window_checked"]
    assert len(window) == 1 and window[0].payload["overridden"] is False
    assert verify_path(sealed.path).ok
    assert any(ln.startswith("  device ok: cell_board") for ln in lines)

    # W4: 28 days after D0, in its window; no stabilometry, so the plate is neither opened nor expected
    w4, lines = _visit(data_dir, rig, "W4", at=_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(days=28))
    run, qc, events = run_record(w4.path)
    assert run.outcome == "completed" and not any(s.instrument == "stabilometry" for s in run.steps)
    assert {g["name"]: g["status"] for g in qc["preflight"]["gates"]}["plate_unloaded"] == "not_applicable"
    assert not any("cell_board" in ln for ln in lines)
    assert "plate_raw" not in qc["streams"] and "emg_a" in qc["streams"]
    assert verify_path(w4.path).ok


def sealed_visit_code(path: Path):  # noqa: ANN201
    from sessions.subject import VisitCode

    return VisitCode(path.stem.split("_")[-1])
