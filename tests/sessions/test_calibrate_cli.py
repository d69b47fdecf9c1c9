"""`amuse-acq calibrate KIND`: the plate procedures end to end on their simulators (known true errors), what is
printed and stored, the exit codes (0 passed, 3 failed and stored, 2 refused and nothing stored, 1 error), the
prompt injectable, the per-visit kinds run as a check that stores nothing, and the records in force copied into a
`record --lsl` visit (a real visit never gets a simulated record)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from acquisition.config import AcqSettings
from acquisition.visitfile.reader import VisitFile
from calibration.records import new_record
from calibration.store import CalibrationStore
from sessions.calibrate_cli import available_commands, default_args
from sessions.calibrate_kinds.base import CalibrationContext
from sessions.cli import main as cli_main
from tests.sessions.fake_sources import SwitchableSource

QUICK = """
[calibration.plate_tare]
capture_s = 0.4
settle_s = 0.25
[calibration.plate_mass]
capture_s = 0.4
settle_s = 0.25
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Path]:
    cfg = tmp_path / "quick.toml"
    cfg.write_text(QUICK)
    data = tmp_path / "data"
    data.mkdir()
    return {"config": cfg, "data": data}


def calibrate(env: dict[str, Path], kind: str, *extra: str, operator: str = "tech1") -> int:
    return cli_main(["calibrate", kind, "--operator", operator, "--data-dir", str(env["data"]), "--config",
                     str(env["config"]), *extra])


def last_lines(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], list[str]]:
    out = capsys.readouterr()
    return out.out.strip().splitlines(), [ln for ln in out.err.splitlines() if ln.startswith("amuse-acq:")]


def test_tare_passes_and_a_new_one_supersedes_it(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert calibrate(env, "plate-tare", "--simulate", "--sim-zero-kg", "0.3,-0.2,0.1,0") == 0
    out, err = last_lines(capsys)
    assert err == []
    assert out[-2].startswith("plate-tare passed: AMUSE-CB4 s/n SIM-CB4-000123 (simulated), in force until ")
    path = env["data"] / "calibration" / "000001_plate-tare.json"
    assert out[-1] == f"stored: {path.resolve()}"
    rec = json.loads(path.read_text())["record"]
    assert rec["performed_by"] == "tech1" and rec["passed"] and rec["simulated"]
    assert [round(rec["values"]["offset_kg"][c], 3) for c in ("TR", "BR", "TL", "BL")] == [0.3, -0.2, 0.1, 0.0]
    assert calibrate(env, "plate-tare", "--simulate") == 0
    out, _ = last_lines(capsys)
    assert out[-1].endswith(f"000002_plate-tare.json (supersedes {rec['id']})")
    [now] = CalibrationStore(env["data"]).in_force()
    assert now.supersedes == rec["id"] and now.values["offset_kg"]["TR"] == pytest.approx(0.0, abs=1e-3)


def test_a_drifted_cell_fails_the_tare_and_the_failure_is_stored(env: dict[str, Path],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert calibrate(env, "plate-tare", "--simulate", "--sim-zero-kg", "1.5,0,0,0") == 3
    out, _ = last_lines(capsys)
    assert out[-2].startswith("plate-tare FAILED: AMUSE-CB4 s/n SIM-CB4-000123 (simulated): cell TR offset +1.500 kg")
    store = CalibrationStore(env["data"])
    latest = store.latest("plate-tare", "SIM-CB4-000123")
    assert latest is not None and not latest.passed and store.in_force() == []


def test_a_miscalibrated_plate_is_rejected_and_a_good_one_passes(env: dict[str, Path],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert calibrate(env, "plate-mass", "--simulate", "--sim-gain-error-pct", "3,0,0,0") == 3
    out, _ = last_lines(capsys)
    assert "plate-mass FAILED: AMUSE-CB4 s/n SIM-CB4-000123 (simulated): " in out[-2]
    assert "cell TR gain error +3.00 % (tolerance +-2 %)" in out[-2]
    failed = CalibrationStore(env["data"]).latest("plate-mass", "SIM-CB4-000123")
    assert failed is not None and failed.values["gain"]["TR"] == pytest.approx(1.03, abs=2e-4)
    assert calibrate(env, "plate-mass", "--simulate", "--mass-kg", "10") == 0
    [good] = CalibrationStore(env["data"]).in_force()
    assert good.supersedes == failed.id and good.values["mass_kg"] == 10.0
    assert good.residuals["max_cop_error_mm"] < 0.1 and good.residuals["max_mass_error_pct"] < 0.05


def test_balance_board_mass_check(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert calibrate(env, "plate-mass", "--simulate", "--plate", "balance-board") == 0
    out, _ = last_lines(capsys)
    assert out[-2].startswith("plate-mass passed: Nintendo Wii Balance Board (RVL-WBC-01) s/n ")
    [rec] = CalibrationStore(env["data"]).in_force()
    assert rec.values["stream"] == "plate" and rec.residuals["max_mass_error_pct"] < 0.2  # 10 g codes


@pytest.mark.parametrize("extra, why", [
    (("--sim-leftover-kg", "5"), "the plate is not empty: it reads +5.00 kg"),
    (("--sim-noise-kg", "0.3"), "the plate is not still: cell"),
])
def test_a_refused_tare_stores_nothing(env: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                       extra: tuple[str, ...], why: str) -> None:
    assert calibrate(env, "plate-tare", "--simulate", *extra) == 2
    _, err = last_lines(capsys)
    assert len(err) == 1 and err[0].startswith("amuse-acq: error: calibrate plate-tare refused: ") and why in err[0]
    assert CalibrationStore(env["data"]).records() == []


@pytest.mark.parametrize("argv, why", [
    (("plate-tare", "--operator", "tech1"), "a real cell board needs --port"),
    (("plate-tare", "--operator", "tech1", "--sim-zero-kg", "1,0,0,0"), "--sim-zero-kg describes a simulated plate"),
    (("plate-tare", "--operator", "tech1", "--simulate", "--sim-zero-kg", "1,0"), "expected 4 comma-separated"),
    (("plate-tare", "--operator", "bad login", "--simulate"), "operator 'bad login'"),
    (("plate-tare", "--simulate"), "--operator"),
    (("plate-mass", "--operator", "tech1", "--simulate", "--mass-kg", "0"), "reference mass"),
    (("no-such-kind", "--operator", "tech1"), "invalid choice: 'no-such-kind'"),
])
def test_bad_options_are_refused_in_one_line(env: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                             argv: tuple[str, ...], why: str) -> None:
    assert cli_main(["calibrate", *argv, "--data-dir", str(env["data"])]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and why in err[0]
    assert not (env["data"] / "calibration").exists() or CalibrationStore(env["data"]).records() == []


def test_production_mode_refuses_a_simulated_plate(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AMUSE_PRODUCTION", "1")
    assert calibrate(env, "plate-tare", "--simulate") == 2
    assert "production mode refuses a simulated device" in capsys.readouterr().err


def test_a_damaged_store_fails_before_the_device_is_opened(env: dict[str, Path],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    store = CalibrationStore(env["data"])
    store.append(new_record(kind="plate-tare", device_serial="X", performed_by="t", values={},
                            valid_for=dt.timedelta(days=1)))
    (store.root / "000001_plate-tare.json").chmod(0o644)
    (store.root / "000001_plate-tare.json").write_text("{")
    assert calibrate(env, "plate-tare", "--port", "/nonexistent/port") == 1  # the port is never tried
    _, err = last_lines(capsys)
    assert err == [f"amuse-acq: error: calibration store damaged: {store.root / '000001_plate-tare.json'}: not "
                   "valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"]


# -- a real device (its simulator behind --port), the technician's prompts injected --------------------------
def _command(kind: str) -> Any:
    return next(c for c in available_commands() if c.kind == kind)


def test_the_technician_is_prompted_for_every_step(tmp_path: Path) -> None:
    from drivers.signals.plate_load import PlateLoad
    from drivers.stabilometry.cell_board.simulator import CellBoardSimulator

    settings = AcqSettings.load(_quick(tmp_path), data_dir=tmp_path)
    sim = CellBoardSimulator(link=str(tmp_path / "ttyUSB-cb"), serial="CB4-REAL-7").start()
    loads = iter([PlateLoad.empty(), *(PlateLoad(mass_kg=20.0, x_mm=x, y_mm=y) for x, y in
                  [(0, 0), (108.25, 59.5), (108.25, -59.5), (-108.25, 59.5), (-108.25, -59.5)]), PlateLoad.empty()])
    asked: list[str] = []

    def technician(text: str) -> None:
        asked.append(text)
        sim.place_load(next(loads))

    try:
        args = default_args(_command("plate-mass"), operator="tech2", simulate=False)
        args.port = sim.path
        ctx = CalibrationContext(settings=settings, operator="tech2", simulate=False, say=lambda _: None,
                                 prompt=technician)
        rec = _command("plate-mass").run(args, ctx)
    finally:
        sim.stop()
    assert len(asked) == 7 and asked[0].startswith("Clear the plate") and "at the back-left" in asked[5]
    assert rec.passed and rec.device_serial == "CB4-REAL-7" and not rec.simulated
    assert rec.performed_by == "tech2"


def test_no_technician_at_the_terminal_is_refused(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from drivers.stabilometry.cell_board.simulator import CellBoardSimulator

    def closed(_prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", closed)
    sim = CellBoardSimulator(link=str(env["data"].parent / "cb")).start()
    try:
        assert calibrate(env, "plate-tare", "--port", sim.path) == 2
    finally:
        sim.stop()
    assert "the procedure needs the technician at the terminal" in capsys.readouterr().err
    assert CalibrationStore(env["data"]).records() == []


def _quick(tmp_path: Path) -> Path:
    cfg = tmp_path / "quick.toml"
    cfg.write_text(QUICK)
    return cfg


def test_kinds_not_written_yet_are_not_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    import sessions.calibrate_cli as cc

    monkeypatch.setattr(cc, "KIND_MODULES", ("plate_tare", "not_written_yet", "plate_mass"))
    assert [c.kind for c in cc.available_commands()] == ["plate-tare", "plate-mass"]


# -- the records in force go into every visit --------------------------------------------------------------------
class FakeInlet(SwitchableSource):
    republish = False
    replay_sha256 = None  # what the outlet says (sessions.lsl_provenance): not a replay, not simulated
    simulated = False

    def __init__(self, cfg: Any) -> None:
        super().__init__(f"lsl:{cfg.lsl_name}", {cfg.lsl_name.lower(): 100.0})

    def close(self) -> None: ...


@pytest.mark.parametrize("simulated", [True, False])
def test_record_copies_the_records_in_force_into_the_visit(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                          simulated: bool) -> None:
    import acquisition.lsl.inlet as inlet

    monkeypatch.setattr(inlet, "LslInletSource", FakeInlet)
    store = CalibrationStore(env["data"])
    day = dt.timedelta(days=1)
    now = dt.datetime.now(dt.timezone.utc)

    def add(kind: str, serial: str, **kw: Any) -> Any:
        return store.append(new_record(kind=kind, device_serial=serial, performed_by="tech1",  # type: ignore[arg-type]
                                       values={"offset_kg": {"TR": 0.1}}, **{"valid_for": day, **kw}))[0]

    tare = add("plate-tare", "CB-1")
    add("plate-mass", "CB-1", now=now - 2 * day)  # expired
    add("plate-tare", "CB-2")
    add("plate-tare", "CB-2", reasons=["cell TR offset beyond"])  # a failed one supersedes the passed one
    scan = add("scanner-scale", "SCAN-7", valid_for=dt.timedelta(days=30))
    sim = add("plate-tare", "SIM-CB4-000123", simulated=True)  # the demo's: never in a real visit
    assert cli_main(["record", "--data-dir", str(env["data"]), "--subject", "ABC-001", "--visit", "D0",
                     "--operator", "tech1", "--lsl", "EMG", *(["--simulated"] if simulated else []),
                     "--duration", "0.5"]) == 0
    with VisitFile.open(env["data"] / "ABC-001_D0.h5") as v:
        copied = {r.id: r for r in v.calibration}
    assert set(copied) == {tare.id, scan.id, *([sim.id] if simulated else [])}
    assert copied[tare.id].values == tare.values and copied[tare.id].model_extra["performed_by"] == "tech1"


def test_a_damaged_store_refuses_the_visit_in_one_line(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import acquisition.lsl.inlet as inlet

    monkeypatch.setattr(inlet, "LslInletSource", FakeInlet)
    store = CalibrationStore(env["data"])
    for _ in range(2):
        store.append(new_record(kind="plate-tare", device_serial="CB-1", performed_by="t", values={},
                                valid_for=dt.timedelta(days=1)))
    (store.root / "000001_plate-tare.json").unlink()  # a record removed from the append-only store
    assert cli_main(["record", "--data-dir", str(env["data"]), "--subject", "ABC-001", "--visit", "D0",
                     "--operator", "tech1", "--lsl", "EMG", "--simulated", "--duration", "0.5"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("amuse-acq:")]
    assert len(err) == 1 and "record 1 is missing" in err[0] and "the visit is not opened" in err[0]
    assert not (env["data"] / ".open" / "ABC-001_D0").exists() and not (env["data"] / "ABC-001_D0.h5").exists()


# -- the per-visit kinds: a check of the device, nothing stored ------------------------------------------------
def test_jaw_reference_is_a_check_that_stores_nothing(env: dict[str, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert calibrate(env, "jaw-reference", "--simulate") == 0
    out, err = last_lines(capsys)
    assert err == []
    assert out[-2].startswith("jaw-reference passed: NDI Aurora s/n ") and "(simulated)" in out[-2]
    assert "in force" not in out[-2]  # it is never in force from the store
    assert out[-1] == ("not stored: jaw-reference is measured on the patient for one visit; the visit runner "
                       "records it into the visit (SessionManager.record_calibration)")
    assert not (env["data"] / "calibration").exists()


@pytest.mark.parametrize("passed, code", [(True, 0), (False, 3)])
def test_emg_noise_is_a_check_that_stores_nothing(env: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch, passed: bool, code: int) -> None:
    import dataclasses

    import sessions.calibrate_kinds.emg_noise as emg

    canned = new_record(kind="emg-noise", device_serial="SIM-BIT-A+SIM-BIT-B", device_model="BITalino",
                        performed_by="tech1", valid_for=dt.timedelta(hours=12), values={"rest_rms_uv": {"TA_R": 1.8}},
                        reasons=[] if passed else ["TA_L: no signal at rest"], simulated=True)
    monkeypatch.setattr(emg, "COMMAND", dataclasses.replace(emg.COMMAND, run=lambda args, ctx: canned))
    assert calibrate(env, "emg-noise", "--simulate") == code
    out, _ = last_lines(capsys)
    assert out[-2].startswith("emg-noise passed: " if passed else "emg-noise FAILED: ")
    assert out[-1].startswith("not stored: emg-noise is measured on the patient for one visit")
    assert not (env["data"] / "calibration").exists()


def test_the_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["calibrate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "3: failed (measured, out of tolerance; the failed record is stored" in text
    assert "1: error (the device or the store failed; nothing stored)" in text


def test_the_plate_geometry_is_the_opened_source_s(tmp_path: Path) -> None:
    """The spans the mass positions and the COP are computed with are the plate's own configuration's."""
    from drivers.stabilometry.cell_board.driver import CellBoardSource
    from drivers.stabilometry.cell_board.simulator import CellBoardSimulator
    from drivers.stabilometry.config import CellBoardConfig, PlateGeometry
    from sessions.calibrate_kinds.plate_common import open_plate

    sim = CellBoardSimulator(link=str(tmp_path / "cb")).start()

    class Rig:
        def plate_source(self) -> CellBoardSource:
            return CellBoardSource(CellBoardConfig(port=sim.path, simulated=True,
                                                   geometry=PlateGeometry(width_mm=500.0, depth_mm=300.0)))

        def place_load(self, load: Any) -> None:
            sim.place_load(load)

    ctx = CalibrationContext(settings=AcqSettings(data_dir=tmp_path), operator="t", simulate=True,
                             say=lambda _: None, rig=Rig())  # type: ignore[arg-type]
    try:
        with open_plate(default_args(_command("plate-tare"), operator="t"), ctx) as plate:
            assert (plate.width_mm, plate.depth_mm) == (500.0, 300.0)
    finally:
        sim.stop()
