from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import serial

from drivers.jaw.aurora.reply_reader import ReplyReader
from drivers.jaw.aurora.simulate_cli import build_parser

ROOT = Path(__file__).resolve().parents[3]


def test_cli_prints_path_first_and_serves(tmp_path: Path) -> None:
    link = tmp_path / "aurora"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from drivers.jaw.aurora.simulate_cli import main_simulate; main_simulate()",
         "--link", str(link), "--fault", "bad_crc=2", "--drift-ppm", "100"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert first == str(link) and os.path.islink(first)
        port = serial.Serial(first, 9600, timeout=1.0)
        port.write(b"\x00")
        assert ReplyReader().feed(port.read_until(b"\r")) == ["RESET"]
        port.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0


def test_cli_rejects_unknown_fault() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--fault", "meteor"])
