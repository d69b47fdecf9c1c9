"""The exam room, simulated: every instrument's wire-level simulator, and the real drivers connected to them.

Each simulator serves its device's end of the real protocol (BITalino and NDI Aurora on pseudo-terminals behind
udev-like symlinks, the load-cell board on a pty, the scanner writing into an export folder behind a simulated
USB identity), fed by the signal generators so the ground truth is known. The drivers are exactly those used
with real hardware; only their configuration points at the simulators and says `simulated=True`.
The rig also plays the patient: `set_step()` tells every simulator which protocol task is being performed.

The simulators run in child processes (the device side of the wires), so their Python work does not compete
with the drivers for the recorder's interpreter lock, as real instruments would not. Their pty links and the
export folder live in a rig folder (`rig_workdir`) that close removes, and that the next rig removes if this one
was killed; the children end on their own when the pipe to a killed parent closes.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import weakref
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from acquisition.source import Source
from drivers.emg.bitalino.config import BitalinoConfig, BoardConfig
from drivers.emg.bitalino.driver import BitalinoEmgSource
from drivers.emg.bitalino.simulator import BitalinoSimulator
from drivers.jaw.aurora.config import AuroraConfig
from drivers.jaw.aurora.driver import AuroraJawSource
from drivers.jaw.aurora.simulator import AuroraSimulator
from drivers.scanner.folder_watch import WatchConfig
from drivers.scanner.simulator import ScannerSimulator
from drivers.scanner.source import ScannerConfig, ScannerSource
from drivers.scanner.usb_identity import UsbExpectation
from drivers.scanner.usb_sim_backend import SimUsbBackend, SimUsbDevice
from drivers.signals.plate_load import PlateLoad
from drivers.stabilometry.cell_board.driver import CellBoardSource
from drivers.stabilometry.cell_board.simulator import CellBoardSimulator
from drivers.stabilometry.config import CellBoardConfig
from sessions.rig_workdir import create_workdir, remove_workdir

BOARD_A = {"A1": "TA_R", "A2": "TA_L", "A3": "MM_R", "A4": "MM_L"}
BOARD_B = {"A1": "DA_R", "A2": "DA_L", "A3": "SCM_R", "A4": "SCM_L"}
INCISAL_OFFSET_MM = (0.0, 15.0, 25.0)
ICP_HEAD_MM = (0.0, -70.0, 85.0)


#: the simulators are split over two child processes: the Aurora answers polls within a frame period, so it
#: gets an interpreter of its own rather than sharing one with two 1 kHz BITalino boards
GROUPS = ("main", "aurora")
_DEVICE_GROUP = {"emg_a": "main", "emg_b": "main", "plate": "main", "scanner": "main", "aurora": "aurora"}


class _Devices:
    """The simulators of one group (lives in a child process)."""

    def __init__(self, group: str, workdir: Path, seed: int, scanner_folder: Path) -> None:
        dev = workdir / "dev"
        dev.mkdir(parents=True, exist_ok=True)
        self.by_name: dict[str, Any] = {}
        self.scanner: ScannerSimulator | None = None
        if group == "aurora":
            self.by_name["aurora"] = AuroraSimulator(link=dev / "aurora", seed=seed,
                                                     incisal_offset_mm=INCISAL_OFFSET_MM, icp_head_mm=ICP_HEAD_MM)
        else:
            self.by_name["emg_a"] = BitalinoSimulator(link=dev / "bitalino_a", inputs=tuple(BOARD_A.values()),
                                                      seed=seed)
            self.by_name["emg_b"] = BitalinoSimulator(link=dev / "bitalino_b", inputs=tuple(BOARD_B.values()),
                                                      seed=seed + 1)
            self.by_name["plate"] = CellBoardSimulator(link=str(dev / "cellboard"), seed=seed)
            self.scanner = ScannerSimulator(scanner_folder, seed=seed, subject="SIM", write_mode="part")
        self.serial = tuple(self.by_name.values())
        if self.scanner is not None:
            self.by_name["scanner"] = self.scanner

    def start(self) -> None:
        for sim in self.serial:
            sim.start()

    def handle(self, cmd: tuple[Any, ...]) -> Any:
        op = cmd[0]
        if op == "set_step":
            for sim in self.serial:
                sim.set_step(cmd[1], cmd[2])
            return None
        if op in ("scan", "photos") and self.scanner is None:
            raise ValueError("no scanner in this group")
        if op == "scan":
            assert self.scanner is not None
            rec = self.scanner.write_capture(cmd[1], cmd[2], fmt=cmd[3], **cmd[4])
            return {"stem": rec.stem, "truth": rec.truth}
        if op == "photos":
            assert self.scanner is not None
            return [str(p) for p in self.scanner.write_photos(**cmd[1])]
        if op == "fault":
            self.by_name[cmd[1]].faults.arm(cmd[2], cmd[3])
            return None
        if op == "place_load":  # a calibration step on the plate: a known mass, the empty plate, or (None) the subject
            self.by_name["plate"].place_load(None if cmd[1] is None else PlateLoad.model_validate(cmd[1]))
            return None
        raise ValueError(f"unknown rig command {op!r}")

    def close(self) -> None:
        for sim in self.serial:
            try:
                sim.close()
            except Exception:  # noqa: BLE001 - closing simulators must not hide the visit's outcome
                pass


def _serve(conn: Connection, group: str, workdir: str, seed: int, scanner_folder: str) -> None:
    devices = _Devices(group, Path(workdir), seed, Path(scanner_folder))
    devices.start()
    conn.send(("ready", None))
    try:
        while True:
            try:
                cmd = conn.recv()
            except EOFError:
                break
            if cmd[0] == "close":
                break
            try:
                conn.send(("ok", devices.handle(cmd)))
            except Exception as exc:  # noqa: BLE001 - report to the parent, keep serving
                conn.send(("error", repr(exc)))
    finally:
        devices.close()
        conn.send(("closed", None))


class SimulatedRig:
    """Start with `start()`; `sources()` and `scanner()` give the drivers; `close()` stops everything."""

    def __init__(self, *, workdir: Path | None = None, seed: int = 0, scanner_folder: Path | None = None) -> None:
        # a folder of its own unless given one: removed on close or exit, and by the next rig after a SIGKILL
        self._cleanup: weakref.finalize | None = None
        if workdir is None:
            self.workdir = create_workdir()
            self._cleanup = weakref.finalize(self, remove_workdir, self.workdir)
        else:
            self.workdir = Path(workdir)
        (self.workdir / "dev").mkdir(parents=True, exist_ok=True)
        self.seed = seed
        self.scanner_folder = scanner_folder or (self.workdir / "scanner_export")
        self.scanner_folder.mkdir(parents=True, exist_ok=True)
        self.usb_device = SimUsbDevice()
        self._conns: dict[str, Connection] = {}
        self._procs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def start(self, timeout: float = 60.0) -> "SimulatedRig":
        ctx = mp.get_context("spawn")
        for group in GROUPS:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child, group, str(self.workdir), self.seed,
                                                    str(self.scanner_folder)),
                               name=f"amuse-sim-{group}", daemon=True)
            proc.start()
            self._conns[group], self._procs[group] = parent, proc
        for group, conn in self._conns.items():
            if not conn.poll(timeout):
                self.close()
                raise RuntimeError(f"the simulated instruments ({group}) did not start")
            kind, _ = conn.recv()
            if kind != "ready":
                self.close()
                raise RuntimeError(f"the simulated instruments ({group}) failed to start: {kind}")
        return self

    def _call(self, group: str, *cmd: Any, timeout: float = 60.0) -> Any:
        conn = self._conns.get(group)
        if conn is None:
            raise RuntimeError("rig not started")
        with self._lock:
            conn.send(cmd)
            if not conn.poll(timeout):
                raise RuntimeError(f"simulated instruments did not answer {cmd[0]!r}")
            kind, value = conn.recv()
        if kind != "ok":
            raise RuntimeError(f"simulated instruments: {value}")
        return value

    # -- drivers pointed at the simulators ---------------------------------------------------------
    def sources(self) -> list[Source]:
        dev = self.workdir / "dev"
        emg = BitalinoEmgSource(BitalinoConfig(
            boards=[BoardConfig(stream="emg_a", path=str(dev / "bitalino_a"), serial="SIM-BIT-A", inputs=BOARD_A),
                    BoardConfig(stream="emg_b", path=str(dev / "bitalino_b"), serial="SIM-BIT-B", inputs=BOARD_B)],
            simulated=True,
        ))
        jaw = AuroraJawSource(AuroraConfig(path=str(dev / "aurora"), incisal_offset_mm=INCISAL_OFFSET_MM,
                                           icp_mm=ICP_HEAD_MM, simulated=True), name="aurora")
        return [emg, jaw, self.plate_source()]  # type: ignore[list-item]

    def plate_source(self) -> CellBoardSource:
        """A driver on the rig's cell board (the visit's, or a calibration's before the visit)."""
        return CellBoardSource(CellBoardConfig(port=str(self.workdir / "dev" / "cellboard"), simulated=True))

    def scanner(self, **watch: Any) -> ScannerSource:
        """The scanner driver on the simulator's export folder; `watch` overrides `WatchConfig` fields."""
        opts: dict[str, Any] = {"reject_grace_s": 2.0, **watch}
        return ScannerSource(
            ScannerConfig(watch=WatchConfig(folder=self.scanner_folder, **opts),
                          usb=UsbExpectation(), simulated=True),
            usb_backend=SimUsbBackend([self.usb_device]),
        )

    # -- the patient ------------------------------------------------------------------------------------
    def set_step(self, step: str, duration_s: float) -> None:
        for group in GROUPS:
            self._call(group, "set_step", step, duration_s)

    def take_scan(self, condition: str, repetition: int, *, fmt: str = "obj", stem: str | None = None,
                  fault: str | None = None) -> Any:
        """The simulated scanner writes one capture (optionally under a given file stem, or broken on purpose)."""
        extra: dict[str, Any] = {}
        if stem is not None:
            extra["stem"] = stem
        if fault is not None:
            extra["fault"] = fault
        return self._call("main", "scan", condition, repetition, fmt, extra)

    def take_photos(self, *, prefix: str | None = None, views: tuple[str, ...] | None = None) -> Any:
        """The simulated scanner writes the 2D photo set (optionally under a file name prefix, or other views)."""
        extra: dict[str, Any] = {"prefix": prefix}
        if views is not None:
            extra["views"] = tuple(views)
        return self._call("main", "photos", extra)

    def place_load(self, load: PlateLoad | None) -> None:
        """A still known load on the plate instead of the subject (calibration steps); None: the subject again."""
        self._call("main", "place_load", None if load is None else load.model_dump())

    def arm_fault(self, device: str, fault: str, count: int = 1) -> None:
        """Arm a fault on one simulated device: emg_a, emg_b, aurora, plate or scanner."""
        self._call(_DEVICE_GROUP[device], "fault", device, fault, count)

    def close(self) -> None:
        for conn in self._conns.values():
            try:
                conn.send(("close",))
            except (OSError, EOFError, BrokenPipeError):
                pass
        for conn in self._conns.values():
            try:
                conn.poll(10.0)
            except (OSError, EOFError):
                pass
        self._conns = {}
        for proc in self._procs.values():
            proc.join(timeout=10.0)
            if proc.is_alive():
                proc.kill()
        self._procs = {}
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None

    def __enter__(self) -> "SimulatedRig":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
