"""The exam room, simulated: every instrument's wire-level simulator, and the rig file that points at them.

Each simulator serves its device's end of the real protocol (BITalino and NDI Aurora on pseudo-terminals behind
udev-like symlinks, the load-cell board on a pty, the scanner writing into an export folder behind a simulated
USB identity), fed by the signal generators so the ground truth is known. The rig describes itself as a rig file
(`rig_config()`, `write_rig_file()`: `simulated = true`, the pty links as ports, the simulators' serials as the
expected ones), and its drivers are built from that file by `sessions.rig.build`, exactly as a real exam room's
are: there is no second way from a rig to its drivers. The rig also plays the patient: `set_step()` tells every
simulator which protocol task is being performed.

The simulators run in child processes (the device side of the wires), so their Python work does not compete
with the drivers for the recorder's interpreter lock, as real instruments would not. Their pty links and the
export folder live in a rig folder (`rig_workdir`) that close removes, and that the next rig removes if this one
was killed; the children end on their own when the pipe to a killed parent closes.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import threading
import weakref
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from acquisition.source import Source
from drivers.emg.bitalino.simulator import BitalinoSimulator
from drivers.jaw.aurora.simulator import AuroraSimulator
from drivers.scanner.simulator import ScannerSimulator
from drivers.scanner.source import ScannerSource
from drivers.scanner.usb_sim_backend import SimUsbBackend, SimUsbDevice
from drivers.signals.plate_load import PlateLoad
from drivers.stabilometry.cell_board.simulator import CellBoardSimulator
from sessions.rig.build import RigSources, build_plate, build_scanner, build_sources
from sessions.rig.config import (AuroraJaw, BitalinoBoard, BitalinoEmg, CellBoardPlate, ExportFolderScanner, RigConfig,
                                 SimulatedUsb)
from sessions.rig.toml_out import model_toml
from sessions.rig_workdir import create_workdir, remove_workdir

BOARD_A = {"A1": "TA_R", "A2": "TA_L", "A3": "MM_R", "A4": "MM_L"}
BOARD_B = {"A1": "DA_R", "A2": "DA_L", "A3": "SCM_R", "A4": "SCM_L"}
INCISAL_OFFSET_MM = (0.0, 15.0, 25.0)
ICP_HEAD_MM = (0.0, -70.0, 85.0)
#: the identities the simulators report (their defaults, said here so the rig file can expect them)
AURORA_SERIAL = "P6-00417"
CELL_BOARD_SERIAL = "SIM-CB4-000123"
#: the BITalino boards: (stream, pty link, serial, inputs); a pty has no USB serial number, the rig file names them
BOARDS = (("emg_a", "bitalino_a", "SIM-BIT-A", BOARD_A), ("emg_b", "bitalino_b", "SIM-BIT-B", BOARD_B))


#: the simulators are split over two child processes: the Aurora answers polls within a frame period, so it
#: gets an interpreter of its own rather than sharing one with two 1 kHz BITalino boards
GROUPS = ("main", "aurora")
_DEVICE_GROUP = {"emg_a": "main", "emg_b": "main", "plate": "main", "scanner": "main", "aurora": "aurora"}
#: the simulator behind each device of the rig file (the rig names the tracker by its instrument, `jaw`)
RIG_DEVICE_SIMULATOR = {"emg_a": "emg_a", "emg_b": "emg_b", "jaw": "aurora", "plate": "plate", "scanner": "scanner"}


class _Devices:
    """The simulators of one group (lives in a child process)."""

    def __init__(self, group: str, workdir: Path, seed: int, scanner_folder: Path) -> None:
        dev = workdir / "dev"
        dev.mkdir(parents=True, exist_ok=True)
        self.by_name: dict[str, Any] = {}
        self.scanner: ScannerSimulator | None = None
        if group == "aurora":
            self.by_name["aurora"] = AuroraSimulator(link=dev / "aurora", seed=seed, serial=AURORA_SERIAL,
                                                     incisal_offset_mm=INCISAL_OFFSET_MM, icp_head_mm=ICP_HEAD_MM)
        else:
            for i, (stream, link, _serial, inputs) in enumerate(BOARDS):
                self.by_name[stream] = BitalinoSimulator(link=dev / link, inputs=tuple(inputs.values()), seed=seed + i)
            self.by_name["plate"] = CellBoardSimulator(link=str(dev / "cellboard"), seed=seed, serial=CELL_BOARD_SERIAL)
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
        if op == "stop":  # the device switched off (tests: a device missing at rig check / pre-flight)
            sim = self.by_name.pop(cmd[1])
            self.serial = tuple(x for x in self.serial if x is not sim)
            if sim is self.scanner:
                self.scanner = None
            else:
                sim.close()
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
    # Ctrl-C reaches the whole process group: the parent stops the devices (through this pipe), not the terminal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
    """Start with `start()`; `rig_config()` / `write_rig_file()` describe it, `rig_sources()` (or `sources()`,
    `scanner()`, `plate_source()`) give the drivers built from that description; `close()` stops everything."""

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

    # -- the rig file, and the drivers built from it --------------------------------------------------
    def rig_config(self) -> RigConfig:
        """This rig as a rig file says it (docs/rig.md): the simulators' links, serials and export folder."""
        dev = self.workdir / "dev"
        usb = self.usb_device
        boards = [BitalinoBoard(stream=stream, port=str(dev / link), serial=serial, expected_serial=serial,
                                inputs=inputs) for stream, link, serial, inputs in BOARDS]
        return RigConfig(
            name="simulated", simulated=True,
            emg=BitalinoEmg(driver="bitalino", boards=boards),
            jaw=AuroraJaw(driver="aurora", port=str(dev / "aurora"), expected_serial=AURORA_SERIAL,
                          incisal_offset_mm=INCISAL_OFFSET_MM, options={"icp_mm": list(ICP_HEAD_MM)}),
            plate=CellBoardPlate(driver="cell_board", port=str(dev / "cellboard"), expected_serial=CELL_BOARD_SERIAL),
            scanner=ExportFolderScanner(
                driver="export_folder", folder=self.scanner_folder, usb_vid=usb.vid, usb_pid=usb.pid,
                expected_serial=usb.serial, options={"reject_grace_s": 2.0},
                simulated_usb=SimulatedUsb(vid=usb.vid, pid=usb.pid, serial=usb.serial, product=usb.product,
                                           manufacturer=usb.manufacturer)),
        )

    def write_rig_file(self, path: Path) -> Path:
        """The rig file of this rig at `path` (written aside, then renamed into place); its absolute path."""
        path = Path(path).absolute()
        text = model_toml(self.rig_config(), header=(
            "A simulated rig, written by `amuse-acq rig simulate` (docs/rig.md); valid while it runs.\n"
            f"Its simulators' folder: {self.workdir}"), keep=("version", "simulated"))
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        return path

    def rig_sources(self, **watch: Any) -> RigSources:
        """The drivers of this rig, built from its rig file; `watch` overrides the scanner's WatchConfig fields."""
        built = build_sources(self.rig_config(), usb_backend=self.usb_backend)
        if not watch:
            return built
        return RigSources(built.config, built.sources, self.scanner(**watch), built.raw_limits)

    def sources(self) -> list[Source]:
        """The sample sources (EMG, jaw, plate), as `rig_sources()` builds them."""
        return list(self.rig_sources().sources)

    def plate_source(self) -> Source:
        """A driver on the rig's cell board (the visit's, or a calibration's before the visit)."""
        return build_plate(self.rig_config())

    def scanner(self, **watch: Any) -> ScannerSource:
        """The scanner driver on the simulator's export folder; `watch` overrides `WatchConfig` fields."""
        return build_scanner(self.rig_config(), usb_backend=self.usb_backend, watch=watch)

    @property
    def usb_backend(self) -> SimUsbBackend:
        """A pyusb backend presenting the simulated scanner (`usb_device`: unplug it there)."""
        return SimUsbBackend([self.usb_device])

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

    def stop_device(self, device: str) -> None:
        """Switch one simulated device off for good (emg_a, emg_b, aurora, plate: its pty goes; scanner: no more
        captures); the others go on."""
        self._call(_DEVICE_GROUP[device], "stop", device)

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
