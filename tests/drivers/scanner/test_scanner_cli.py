"""`amuse-acq simulate scanner` entry point: folder path first, captures written, faults armed, SIGINT stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.scanner.simulate_cli import build_parser
from drivers.scanner.source import ScannerSource

from .conftest import Poller, fast_config

REPO = Path(__file__).resolve().parents[3]


def test_fault_option_is_checked() -> None:
    assert build_parser().parse_args(["--fault", "nan=2", "--fault", "empty"]).fault == [("nan", 2), ("empty", 1)]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--fault", "melted"])


def test_cli_prints_folder_first_and_stops_on_sigint(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from drivers.scanner.simulate_cli import main_simulate; "
         "sys.exit(main_simulate(sys.argv[1:]))", "--folder", str(folder), "--interval", "0.05",
         "--write-mode", "direct", "--fault", "garbage=1", "--no-photos"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        first = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert first == str(folder.resolve())
        truth = folder / ".sim_truth.jsonl"
        end = time.monotonic() + 20
        while time.monotonic() < end and (not truth.exists() or len(truth.read_text().splitlines()) < 2):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [json.loads(x) for x in truth.read_text().splitlines()]
    assert len(lines) >= 2
    assert lines[0]["fault"] == "garbage" and lines[0]["condition"] == "rest" and lines[0]["repetition"] == 1
    assert lines[1]["fault"] is None and lines[1]["truth"]["mouth_width_mm"] > 0
    # the driver rejects the garbage capture and ingests the good one
    src = ScannerSource(fast_config(folder))
    src.open()
    poller = Poller(src)
    assert poller.until(lambda: src.counters()["captures_rejected"] >= 1 and len(poller.captures) >= 1, timeout=15)
    assert poller.captures[0].scan_id == f"{lines[1]['condition']}_{lines[1]['repetition']}"
