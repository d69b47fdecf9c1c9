"""`amuse-acq simulate DEVICE` starts one simulator alone and prints the path it serves as its first line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("device", ["bitalino", "aurora", "cell-board", "balance-board", "scanner"])
def test_simulate_prints_served_path_first(device: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "AMUSE_LOG_LEVEL": "ERROR"}
    args = [sys.executable, "-m", "sessions.cli", "simulate", device]
    if device == "scanner":
        args += ["--folder", str(tmp_path / "export")]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first, proc.stderr.read() if proc.stderr else ""
        assert os.path.exists(first), f"{device}: first line {first!r} is not a path that exists"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode in (0, -signal.SIGTERM)


def test_unknown_simulator_refused() -> None:
    res = subprocess.run([sys.executable, "-m", "sessions.cli", "simulate", "toaster"], cwd=REPO,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 2 and "invalid choice" in res.stderr


# -- each simulator registers its own options (issue 8.5/8.6) ---------------------------------------------
from sessions.cli import build_parser, main as cli_main  # noqa: E402

DEVICES = ("aurora", "balance-board", "bitalino", "cell-board", "scanner")
WIRE = ("aurora", "balance-board", "bitalino", "cell-board")


@pytest.mark.parametrize("device", DEVICES)
def test_help_of_each_simulator_lists_its_own_options(device: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["simulate", device, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: amuse-acq simulate {device} ")
    for option in ("--fault NAME[=COUNT]", "--seed"):
        assert option in out, (device, option)
    if device in WIRE:
        for option in ("--fault-every SECONDS", "--stall-s SECONDS", "--unplug-s SECONDS"):
            assert option in out, (device, option)
        # the balance board has no clock on the wire (the host kernel stamps its reports): nothing to drift
        assert ("--drift-ppm PPM" in out) is (device != "balance-board"), device
    assert "--fault-interval" not in out


def test_simulate_help_lists_every_device(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["simulate", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(device in out for device in DEVICES)


@pytest.mark.parametrize("device", WIRE)
def test_the_same_options_parse_the_same_on_every_device(device: str) -> None:
    drift = [] if device == "balance-board" else ["--drift-ppm", "-50"]
    args = build_parser().parse_args(["simulate", device, "--fault", "stall=2", "--fault-every", "1.5", *drift,
                                      "--seed", "7", "--stall-s", "0.2", "--unplug-s", "0.3"])
    assert (args.fault, args.fault_every, getattr(args, "drift_ppm", None), args.seed, args.stall_s,
            args.unplug_s) == ([("stall", 2)], 1.5, -50.0 if drift else None, 7, 0.2, 0.3)
    assert args.simulator.name == device


def _one_line_refusal(capsys: pytest.CaptureFixture[str], argv: list[str], *words: str) -> None:
    assert cli_main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert captured.out == "" and len(err) == 1, err
    assert all(w in err[0] for w in words), err


@pytest.mark.parametrize("argv, words", [
    (["simulate", "bitalino", "--bogus"], ("unrecognized arguments", "--bogus")),
    (["simulate", "aurora", "--fault-interval", "3"], ("unrecognized arguments", "--fault-interval")),
    # the BITalino does not write files: the scanner's faults are not its own
    (["simulate", "bitalino", "--fault", "nan"], ("unknown fault 'nan'", "bad_crc")),
    (["simulate", "balance-board", "--fault", "bad_crc"], ("unknown fault 'bad_crc'",)),
    (["simulate", "cell-board", "--fault", "stall=0"], ("fault count must be >= 1",)),
    (["simulate", "cell-board", "--fault-every", "-1"], ("--fault-every", "seconds >= 0")),
    (["simulate", "aurora", "--drift-ppm", "nan"], ("--drift-ppm", "finite")),
    (["simulate", "aurora", "--rate", "0"], ("--rate", "> 0")),
    (["simulate", "cell-board", "--step", "stab_eyes_opne"], ("--step", "invalid choice")),
    (["simulate", "scanner", "--fault-every", "1"], ("unrecognized arguments", "--fault-every")),
    (["simulate", "scanner", "--interval", "0"], ("--interval", "> 0")),
    # refused by the simulator itself while it is made: still one line, exit 2
    (["simulate", "bitalino", "--inputs", "A,B,C,D,E,F,G"], ("simulate bitalino:", "six analog inputs")),
])
def test_refused_simulate_options_are_one_line_exit_2(argv: list[str], words: tuple[str, ...],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _one_line_refusal(capsys, argv, *words)


@pytest.mark.parametrize("device", ["bitalino", "aurora", "cell-board"])
def test_a_link_that_cannot_be_made_is_one_line_exit_1(device: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / "no" / "such" / "dir" / "link"
    assert cli_main(["simulate", device, "--link", str(link)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert captured.out == "" and len(err) == 1 and "amuse-acq: error:" in err[0] and "link" in err[0], err


def test_commands_other_than_simulate_do_not_import_the_simulators(tmp_path) -> None:
    """Every `record` paid ~0.12 CPU-s importing the four simulator modules for its parser (bench, m = 1)."""
    code = ("import sys; from sessions.cli import main; main(['verify', sys.argv[1]]); "
            "print(sorted(m for m in sys.modules if m.endswith(('.simulator', '.balance_board_sim'))))")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "none")], cwd=REPO, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert res.stdout.strip().splitlines()[-1] == "[]", res.stdout + res.stderr
    assert cli_main(["simulate", "bitalino", "--help"]) == 0  # and simulate still has them
