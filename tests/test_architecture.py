"""The dependency direction of the README's Layout section, as import-linter contracts (pyproject.toml [tool.importlinter])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    res = subprocess.run([str(exe), "--config", str(REPO / "pyproject.toml")], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 2 kept, 0 broken" in res.stdout


def test_acquisition_never_imports_sessions() -> None:
    offenders = [p for p in (REPO / "acquisition").rglob("*.py")
                 if "import sessions" in p.read_text() or "from sessions" in p.read_text()]
    assert offenders == []
