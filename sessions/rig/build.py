"""The rig's sources, built from its configuration: the one path from a rig file to the drivers.

A real exam room and the simulated rig (`sessions.simulated_rig`, which writes the rig file of its simulators)
both come through here, so the demo, `rig check`, pre-flight and the visit runner open the same drivers with the
same settings, and a setting that works on the simulated rig is the one a site writes.

Built, not opened: the session manager opens a source when it is added (`SessionManager.add_source`), `rig check`
opens each device itself. Ports given by `usb_serial` are looked up here (`ports.resolve_port`), so build right
before opening; a device that is not on the bus is a `RigError` (a `SourceError`: one line, exit 1).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from serial.tools import list_ports

from acquisition.source import ScanSource, Source
from acquisition.stream import DeviceIdentity
from drivers.emg.bitalino.driver import BitalinoEmgSource
from drivers.emg.bitalino.transfer import BITS
from drivers.emg.lsl_emg import LslEmgSource
from drivers.jaw.aurora.driver import AuroraJawSource
from drivers.scanner.source import ScannerSource
from drivers.scanner.usb_sim_backend import SimUsbBackend, SimUsbDevice
from drivers.stabilometry.balance_board import BalanceBoardSource
from drivers.stabilometry.cell_board.driver import CellBoardSource
from drivers.stabilometry.lsl_plate import LslPlateSource
from sessions.rig.config import (BalanceBoardPlate, BitalinoEmg, CellBoardPlate, LslEmg, LslPlate, RigConfig,
                                 RigDevice)
from sessions.rig.ports import Comports, RigError, resolve_port

AnySource = Source | ScanSource


@dataclass(frozen=True)
class RigSources:
    """The rig's instruments as the session manager takes them: `sources` (EMG, jaw, plate, those configured, in
    that order) for `add_source`, `scanner` for `add_scanner`."""

    config: RigConfig
    sources: tuple[Source, ...]
    scanner: ScanSource | None
    #: per stream, the raw codes at the ends of the device's ADC range (saturation), where the driver says them
    raw_limits: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        return self.config.simulated

    def all(self) -> tuple[AnySource, ...]:
        return (*self.sources, *(() if self.scanner is None else (self.scanner,)))


def build_sources(cfg: RigConfig, *, comports: Comports = list_ports.comports,
                  usb_backend: Any = None) -> RigSources:
    """Every instrument of `cfg`, built. `comports` finds ports given by `usb_serial` (pyserial's by default);
    `usb_backend` is the pyusb backend of the scanner's identity check (None: the simulated rig's own device if
    the file describes one, else libusb). Raises RigError naming the device that cannot be built."""
    paths: dict[str, str] = {}
    sources: list[Source] = []
    if cfg.emg is not None:
        sources.append(build_emg(cfg, comports=comports, paths=paths))
    if cfg.jaw is not None:
        sources.append(build_jaw(cfg, comports=comports, paths=paths))
    if cfg.plate is not None:
        sources.append(build_plate(cfg, comports=comports, paths=paths))
    scanner = build_scanner(cfg, usb_backend=usb_backend) if cfg.scanner is not None else None
    return RigSources(cfg, tuple(sources), scanner, raw_limits(cfg))


def _claim(paths: dict[str, str] | None, device: str, path: str) -> None:
    """Refuse two devices that reach the same tty through different names (a by-id path and a udev symlink)."""
    if paths is None:
        return
    real = os.path.realpath(path) if path.startswith("/") else path
    for other, seen in paths.items():
        if seen == real:
            raise RigError(f"{other} and {device} both lead to {real}: two instruments cannot share a port")
    paths[device] = real


def build_emg(cfg: RigConfig, *, comports: Comports = list_ports.comports, boards: Sequence[str] | None = None,
              paths: dict[str, str] | None = None) -> Source:
    """The EMG source; with BITalino, `boards` (stream names) restricts it to those boards (rig check opens one
    board at a time, to name the one missing)."""
    emg = cfg.emg
    if isinstance(emg, LslEmg):
        return LslEmgSource(emg.driver_config(simulated=cfg.simulated))
    if not isinstance(emg, BitalinoEmg):
        raise RigError("the rig has no EMG")
    built = []
    for b in emg.boards:
        if boards is not None and b.stream not in boards:
            continue
        port = resolve_port(b.stream, b, comports=comports)
        _claim(paths, b.stream, port.path)
        built.append(b.board_config(port.path, port.usb_serial))
    return BitalinoEmgSource(emg.driver_config(built, simulated=cfg.simulated))  # type: ignore[return-value]


def build_jaw(cfg: RigConfig, *, comports: Comports = list_ports.comports,
              paths: dict[str, str] | None = None) -> AuroraJawSource:
    if cfg.jaw is None:
        raise RigError("the rig has no jaw tracker")
    port = resolve_port("jaw", cfg.jaw, comports=comports)
    _claim(paths, "jaw", port.path)
    return AuroraJawSource(cfg.jaw.driver_config(port.path, simulated=cfg.simulated), name="aurora")


def build_plate(cfg: RigConfig, *, comports: Comports = list_ports.comports,
                paths: dict[str, str] | None = None) -> Source:
    plate = cfg.plate
    if isinstance(plate, CellBoardPlate):
        port = resolve_port("plate", plate, comports=comports)
        _claim(paths, "plate", port.path)
        return CellBoardSource(plate.driver_config(port.path, simulated=cfg.simulated))  # type: ignore[return-value]
    if isinstance(plate, BalanceBoardPlate):
        return BalanceBoardSource(plate.driver_config(simulated=cfg.simulated))  # type: ignore[return-value]
    if isinstance(plate, LslPlate):
        return LslPlateSource(plate.driver_config())  # type: ignore[return-value]
    raise RigError("the rig has no plate")


def build_scanner(cfg: RigConfig, *, usb_backend: Any = None, watch: Mapping[str, Any] | None = None) -> ScannerSource:
    """The scanner on its export folder; `watch` overrides WatchConfig options (tests: a shorter orphan timeout)."""
    s = cfg.scanner
    if s is None:
        raise RigError("the rig has no scanner")
    if usb_backend is None and s.simulated_usb is not None:
        given = {k: v for k, v in s.simulated_usb.model_dump().items() if v is not None}
        usb_backend = SimUsbBackend([SimUsbDevice(**given)])
    return ScannerSource(s.driver_config(simulated=cfg.simulated, watch=watch), usb_backend=usb_backend)


def build_device(cfg: RigConfig, device: RigDevice, *, comports: Comports = list_ports.comports,
                 usb_backend: Any = None, paths: dict[str, str] | None = None) -> AnySource:
    """The source of one device alone (`rig check`): a BITalino board on its own, any other its instrument's.
    `paths`, shared over the calls, refuses a tty already reached by another device."""
    if device.instrument == "emg":
        return build_emg(cfg, comports=comports, boards=[device.name] if device.driver == "bitalino" else None,
                         paths=paths)
    if device.instrument == "jaw":
        return build_jaw(cfg, comports=comports, paths=paths)
    if device.instrument == "plate":
        return build_plate(cfg, comports=comports, paths=paths)
    return build_scanner(cfg, usb_backend=usb_backend)


def raw_limits(cfg: RigConfig) -> dict[str, tuple[int, int]]:
    """Streams whose raw codes have a known ADC range: the BITalino's 10-bit inputs (drivers/emg/bitalino/transfer.py)."""
    if isinstance(cfg.emg, BitalinoEmg):
        return {b.stream: (0, 2**BITS - 1) for b in cfg.emg.boards}
    return {}


def identity_problem(device: RigDevice, identity: DeviceIdentity) -> str | None:
    """One line if the device that answered is not the one the rig expects (None: it is, or no serial expected)."""
    if device.expected_serial is None or identity.serial == device.expected_serial:
        return None
    return (f"{device.name}: expected {identity.model} serial {device.expected_serial!r}, found serial "
            f"{identity.serial!r} ({device.where})")
