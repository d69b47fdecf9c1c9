"""`amuse-acq rig simulate`: the whole simulated rig, and its rig file, until stopped.

It starts `sessions.simulated_rig.SimulatedRig` (every wire-level simulator, in its child processes), writes the
rig file that points at them, prints that file's path as its first line (flushed: a script waits for it), and
serves until SIGINT or SIGTERM; then it stops the simulators and removes their folder (the ptys, the export
folder). The rig file stays where it was asked for and then names ports that are gone: `rig check` says so.
Killed outright (SIGKILL), the simulators end with the pipe to it and the next rig sweeps the folder.

`--fault DEVICE:NAME[=COUNT]` arms a fault of that device's simulator, by the rig file's device names (`emg_a`,
`emg_b`, `jaw`, `plate`, `scanner`): the same faults, with the same names, as `amuse-acq simulate DEVICE --fault`.
`--fault-every SECONDS` arms them again every SECONDS.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RigFault:
    device: str  # the rig file's device name
    fault: str
    count: int = 1


def _faults_by_device() -> dict[str, tuple[str, ...]]:
    """What each simulated device implements (imported only when a --fault is parsed: the simulators are heavy)."""
    from drivers.emg.bitalino.simulator import BitalinoSimulator
    from drivers.jaw.aurora.simulator import AuroraSimulator
    from drivers.scanner.simulator import SCANNER_FAULTS
    from drivers.stabilometry.cell_board.simulator import CellBoardSimulator

    return {"emg_a": BitalinoSimulator.FAULTS, "emg_b": BitalinoSimulator.FAULTS, "jaw": AuroraSimulator.FAULTS,
            "plate": CellBoardSimulator.FAULTS, "scanner": SCANNER_FAULTS}


def rig_fault(text: str) -> RigFault:
    """argparse `type=` of `--fault DEVICE:NAME[=COUNT]`; anything a simulator does not implement is refused."""
    device, sep, rest = text.partition(":")
    known = _faults_by_device()
    if not sep or device not in known:
        raise argparse.ArgumentTypeError(f"expected DEVICE:NAME[=COUNT] with DEVICE one of {', '.join(known)}, "
                                         f"got {text!r}")
    name, _, count = rest.partition("=")
    if name not in known[device]:
        raise argparse.ArgumentTypeError(f"unknown fault {name!r} for {device}; its simulator implements "
                                         f"{', '.join(known[device])}")
    try:
        n = int(count) if count else 1
    except ValueError:
        raise argparse.ArgumentTypeError(f"fault count {count!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"fault count must be >= 1, got {n}")
    return RigFault(device, name, n)


class RigFileRefused(ValueError):
    """`--out` names a file that is not a simulated rig's: a site's rig file is never overwritten."""


def check_out(path: Path) -> Path:
    """`path` if `rig simulate` may write it: absent, or a simulated rig file already (a previous run's)."""
    from sessions.rig.config import is_simulated_rig_file

    if path.is_dir():
        raise RigFileRefused(f"--out {path}: is a directory")
    if path.exists() and not is_simulated_rig_file(path):
        raise RigFileRefused(f"--out {path}: exists and is not a simulated rig file; not overwritten")
    if not path.parent.is_dir():
        raise RigFileRefused(f"--out {path}: no such directory {path.parent}")
    return path


def serve_simulated_rig(out: Path, *, stop: threading.Event, faults: Sequence[RigFault] = (),
                        fault_every_s: float = 0.0, seed: int = 0,
                        announce: Callable[[str], None] = lambda line: print(line, flush=True)) -> Path:
    """Run the simulated rig with its rig file at `out` until `stop`; the simulators are stopped on return."""
    from sessions.simulated_rig import RIG_DEVICE_SIMULATOR, SimulatedRig

    check_out(out)
    with SimulatedRig(seed=seed) as rig:
        path = rig.write_rig_file(out)
        announce(str(path))

        def arm() -> None:
            for f in faults:
                rig.arm_fault(RIG_DEVICE_SIMULATOR[f.device], f.fault, f.count)

        arm()
        while not stop.wait(fault_every_s if fault_every_s > 0 else 0.5):
            if fault_every_s > 0:
                arm()
    return path
