import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from drivers.stabilometry.balance_board import BalanceBoardSource
from drivers.stabilometry.cell_board.driver import CellBoardSource
from drivers.stabilometry.config import BalanceBoardConfig, CellBoardConfig

from .conftest import cat, pump

REPO = Path(__file__).resolve().parents[3]


def _start(kind: str, *args: str) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.Popen([sys.executable, "-m", "drivers.stabilometry.simulate_cli", kind, *args], cwd=REPO,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = p.stdout.readline().strip()
    return p, first


def _stop(p: subprocess.Popen) -> int:
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout=5)
    finally:
        if p.poll() is None:
            p.kill()


def test_simulate_prints_served_path_first_and_a_driver_reads_it():
    # both simulators at once (their start-up is the slow part), each read by its driver
    procs = {kind: _start(kind, "--fault", "garbage", "--fault-every", "0.3") for kind in ("cell-board", "balance-board")}
    try:
        for kind, (p, path) in procs.items():
            assert os.path.exists(path), (kind, path, p.stderr.read() if p.poll() is not None else "")
            src = (CellBoardSource(CellBoardConfig(port=path)) if kind == "cell-board"
                   else BalanceBoardSource(BalanceBoardConfig(device=path)))
            src.open()
            out, _ = pump(src, 1.0)
            src.close()
            cop = cat(out["cop"])
            assert len(cop) > 40 and np.isfinite(cop).mean() > 0.9, kind
            assert src.counters()["bytes_skipped"] > 0, kind  # the armed fault reached the driver, counted
        if os.path.exists("/dev/uinput") is False:
            assert Path(procs["balance-board"][1]).is_fifo()  # no uinput here: the FIFO of event records
    finally:
        codes = {kind: _stop(p) for kind, (p, _) in procs.items()}
    assert codes == {"cell-board": 0, "balance-board": 0}


def test_unknown_kind_is_refused():
    from drivers.stabilometry.simulate_cli import main_simulate

    assert main_simulate("treadmill", []) == 2
