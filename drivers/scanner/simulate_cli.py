"""`amuse-acq simulate scanner`: run the simulated scanner alone.

Prints the export folder it writes into as its FIRST line (flushed), then writes the protocol's 3 conditions
x 3 captures every `--interval` seconds (formats cycling OBJ+MTL+PNG, PLY, STL) and a photo set, then idles
until SIGINT/SIGTERM. `--fault NAME[=count]` (repeatable) arms broken captures: truncated, wrong_units,
empty, garbage, nan, missing_texture. The ground truth of each capture goes to `<folder>/.sim_truth.jsonl`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from drivers.common.faults import FaultSwitchboard
from drivers.common.sim_cli import add_fault_option, arm_all
from drivers.scanner.simulator import SCANNER_FAULTS, ScannerSimulator




def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="amuse-acq simulate scanner", description=__doc__.splitlines()[0])
    p.add_argument("--folder", type=Path, default=None, help="export folder (default: a new temporary folder)")
    p.add_argument("--interval", type=float, default=3.0, help="seconds between captures (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subject", default="SIM01", help="pseudonym used in the file names")
    p.add_argument("--write-mode", choices=("slow", "part", "direct"), default="slow")
    add_fault_option(p, SCANNER_FAULTS)
    p.add_argument("--no-photos", action="store_true")
    return p


def main_simulate(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="amuse-scanner-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(str(folder.resolve()), flush=True)
    faults = FaultSwitchboard()
    arm_all(faults, args.fault)
    sim = ScannerSimulator(folder, seed=args.seed, subject=args.subject, write_mode=args.write_mode, faults=faults)
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        sim.run_protocol(
            stop, interval_s=args.interval, photos=not args.no_photos,
            on_capture=lambda r: print(f"wrote {r.stem} ({r.fmt}{', fault ' + r.fault if r.fault else ''})",
                                       file=sys.stderr, flush=True),
        )
        while not stop.wait(0.5):
            pass
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return 0


if __name__ == "__main__":
    raise SystemExit(main_simulate())
