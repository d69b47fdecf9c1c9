"""A site's rig: which driver each instrument uses, where it is plugged, what it must be (docs/rig.md).

One TOML file per exam room, validated here (pydantic, unknown keys refused) before any port is touched:

- `emg`: `driver = "bitalino"` (one to four boards, normally two: `emg_a`, `emg_b`) or `"lsl"` (a vendor's app);
- `jaw`: `driver = "aurora"` (NDI Aurora / Polaris on a serial port);
- `plate`: `driver = "cell_board"`, `"balance_board"` (hid-wiimote evdev) or `"lsl"` (a six-component plate);
- `scanner`: `driver = "export_folder"`: the vendor software's export folder, and the scanner's USB VID/PID.

Every instrument says where it is (`port` = a stable path, or `usb_serial`; see `ports`) and may say what it must
be (`expected_serial`, checked by `amuse-acq rig check` and by pre-flight). Its driver's other settings go in its
`options` table, and are checked by that driver's own model (`drivers/<instrument>/.../config.py`) when the rig
file is loaded: there is one definition of each driver option, the driver's, and a typo in `options` is refused
naming the key like anywhere else. `simulated = true` marks a rig file written by `amuse-acq rig simulate` (its
sources say they are simulated, production mode refuses them).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from drivers.emg.bitalino.config import BitalinoConfig, BoardConfig
from drivers.emg.lsl_emg import LslEmgConfig
from drivers.jaw.aurora.config import AuroraConfig
from drivers.scanner.folder_watch import WatchConfig
from drivers.scanner.source import ScannerConfig
from drivers.scanner.usb_identity import UsbExpectation
from drivers.scanner.validate import ValidationLimits
from drivers.stabilometry.config import BalanceBoardConfig, CellBoardConfig, LslPlateConfig
from sessions.cli_args import one_line
from sessions.rig.ports import SerialPort, check_stable_path

Instrument = Literal["emg", "jaw", "plate", "scanner"]
Vec3 = tuple[float, float, float]
_PLACEHOLDER = "/dev/amuse/placeholder"  # where a driver config is built only to validate the rig's options
_IDENT = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class RigConfigError(ValueError):
    """A rig file that cannot be used, said in one line naming the key."""


def _driver_model(make: Callable[..., Any], options: Mapping[str, Any], reserved: frozenset[str], /,
                  **fixed: Any) -> Any:
    """`make(**fixed, **options)`, the driver's own validation; a problem is one line naming `options.<key>`."""
    taken = sorted(reserved & options.keys())
    if taken:
        raise ValueError(f"options.{taken[0]}: set by the rig file itself, not in options")
    try:
        return make(**fixed, **options)
    except ValidationError as exc:
        e = exc.errors(include_url=False)[0]
        key = ".".join(str(x) for x in e.get("loc", ()))
        if not key:  # a check over the whole driver config (two boards with one stream name): no key to name
            raise ValueError(_message(e)) from None
        given = e.get("input")
        shown = f" (given {given!r})" if e.get("type") not in ("missing", "extra_forbidden") \
            and not isinstance(given, dict | list) else ""
        raise ValueError(f"{'options.' if key.split('.')[0] in options else ''}{key}: {_message(e)}{shown}") from None


def _message(e: Mapping[str, Any]) -> str:
    if e.get("type") == "extra_forbidden":
        return "unknown key"
    if e.get("type") == "missing":
        return "missing"
    return str(e.get("msg", "invalid")).removeprefix("Value error, ")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    expected_serial: str | None = Field(default=None, min_length=1, max_length=120,
                                        description="the serial the device must report (rig check, pre-flight)")


# -- EMG -------------------------------------------------------------------------------------------------
class BitalinoBoard(SerialPort, _Entry):
    """One BITalino board; `stream` is its visit-file stream and its device name in the rig (`emg_a`)."""

    stream: str = Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")
    serial: str | None = Field(default=None, min_length=1, max_length=120,
                               description="identity to record when the port has no USB serial number (Bluetooth, "
                                           "a simulator); default: the adapter's USB serial number")
    inputs: dict[str, str] = Field(description="analog input -> channel label, e.g. {A1 = 'TA_R'}")
    battery_threshold: int = Field(default=0, ge=0, le=63)

    def board_config(self, path: str, usb_serial: str | None) -> BoardConfig:
        return BoardConfig(stream=self.stream, path=path, usb_serial=usb_serial, serial=self.serial,
                           inputs=self.inputs, battery_threshold=self.battery_threshold)

    @model_validator(mode="after")
    def _valid_board(self) -> "BitalinoBoard":
        _driver_model(self.board_config, {}, frozenset(), path=_PLACEHOLDER, usb_serial=None)
        return self


class BitalinoEmg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    RESERVED: ClassVar[frozenset[str]] = frozenset({"boards", "simulated"})

    driver: Literal["bitalino"]
    boards: list[BitalinoBoard] = Field(min_length=1, max_length=4)
    options: dict[str, Any] = Field(default_factory=dict, description="BitalinoConfig settings: rate, stall_s...")

    def driver_config(self, boards: list[BoardConfig], *, simulated: bool) -> BitalinoConfig:
        return _driver_model(BitalinoConfig, self.options, self.RESERVED, boards=boards, simulated=simulated)

    @model_validator(mode="after")
    def _valid_options(self) -> "BitalinoEmg":
        self.driver_config([b.board_config(_PLACEHOLDER, None) for b in self.boards], simulated=False)
        return self


class LslEmg(_Entry):
    RESERVED: ClassVar[frozenset[str]] = frozenset({"lsl_name", "channel_map", "simulated"})

    driver: Literal["lsl"]
    lsl_name: str = Field(min_length=1, max_length=200)
    channel_map: dict[str, str] = Field(description="LSL channel label -> EMG label (TA_R, MM_L...)")
    options: dict[str, Any] = Field(default_factory=dict, description="LslEmgConfig settings: record_as...")

    def driver_config(self, *, simulated: bool) -> LslEmgConfig:
        return _driver_model(LslEmgConfig, self.options, self.RESERVED, lsl_name=self.lsl_name,
                             channel_map=self.channel_map, simulated=simulated)

    @model_validator(mode="after")
    def _valid_options(self) -> "LslEmg":
        self.driver_config(simulated=False)
        return self


# -- jaw -------------------------------------------------------------------------------------------------
class AuroraJaw(SerialPort, _Entry):
    RESERVED: ClassVar[frozenset[str]] = frozenset(
        {"path", "usb_vid", "usb_pid", "usb_serial", "expected_serial", "incisal_offset_mm", "simulated"})

    driver: Literal["aurora"]
    incisal_offset_mm: Vec3 = Field(description="incisal point in the mandibular sensor frame, mm")
    options: dict[str, Any] = Field(default_factory=dict, description="AuroraConfig settings: icp_mm, poll_command...")

    def driver_config(self, path: str, *, simulated: bool) -> AuroraConfig:
        return _driver_model(AuroraConfig, self.options, self.RESERVED, path=path,
                             expected_serial=self.expected_serial, incisal_offset_mm=self.incisal_offset_mm,
                             simulated=simulated)

    @model_validator(mode="after")
    def _valid_options(self) -> "AuroraJaw":
        self.driver_config(_PLACEHOLDER, simulated=False)
        return self


# -- plate -----------------------------------------------------------------------------------------------
class CellBoardPlate(SerialPort, _Entry):
    RESERVED: ClassVar[frozenset[str]] = frozenset({"port", "simulated"})

    driver: Literal["cell_board"]
    options: dict[str, Any] = Field(default_factory=dict, description="CellBoardConfig settings: rate_hz...")

    def driver_config(self, path: str, *, simulated: bool) -> CellBoardConfig:
        return _driver_model(CellBoardConfig, self.options, self.RESERVED, port=path, simulated=simulated)

    @model_validator(mode="after")
    def _valid_options(self) -> "CellBoardPlate":
        self.driver_config(_PLACEHOLDER, simulated=False)
        return self


class BalanceBoardPlate(_Entry):
    RESERVED: ClassVar[frozenset[str]] = frozenset({"device", "simulated"})

    driver: Literal["balance_board"]
    device: str = Field(default="auto", description="'auto' (found by name and VID:PID) or a stable evdev path")
    options: dict[str, Any] = Field(default_factory=dict, description="BalanceBoardConfig settings: resample...")

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        return v if v == "auto" else check_stable_path(v, "device")

    def driver_config(self, *, simulated: bool) -> BalanceBoardConfig:
        return _driver_model(BalanceBoardConfig, self.options, self.RESERVED, device=self.device,
                             simulated=simulated)

    @model_validator(mode="after")
    def _valid_options(self) -> "BalanceBoardPlate":
        self.driver_config(simulated=False)
        return self


class LslPlate(_Entry):
    RESERVED: ClassVar[frozenset[str]] = frozenset({"stream_name"})

    driver: Literal["lsl"]
    stream_name: str = Field(min_length=1, max_length=200)
    options: dict[str, Any] = Field(default_factory=dict, description="LslPlateConfig settings: h_mm...")

    def driver_config(self) -> LslPlateConfig:
        return _driver_model(LslPlateConfig, self.options, self.RESERVED, stream_name=self.stream_name)

    @model_validator(mode="after")
    def _valid_options(self) -> "LslPlate":
        self.driver_config()
        return self


# -- scanner ---------------------------------------------------------------------------------------------
class SimulatedUsb(BaseModel):
    """The USB device a simulated rig presents in place of the bus (drivers/scanner/usb_sim_backend.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vid: int = Field(ge=0, le=0xFFFF)
    pid: int = Field(ge=0, le=0xFFFF)
    serial: str | None = None
    product: str | None = None
    manufacturer: str | None = None


class ExportFolderScanner(_Entry):
    RESERVED: ClassVar[frozenset[str]] = frozenset({"folder"})

    driver: Literal["export_folder"]
    folder: Path = Field(description="where the vendor software exports the captures")
    usb_vid: int | None = Field(default=None, ge=0, le=0xFFFF, description="the scanner's USB vendor id")
    usb_pid: int | None = Field(default=None, ge=0, le=0xFFFF, description="the scanner's USB product id")
    product_contains: str | None = Field(default=None, description="substring its USB product string must contain")
    model: str = Field(default="face scanner", min_length=1, max_length=120, description="model recorded")
    options: dict[str, Any] = Field(default_factory=dict, description="WatchConfig settings: reject_grace_s...")
    limits: ValidationLimits = Field(default_factory=ValidationLimits, description="what a capture must satisfy")
    simulated_usb: SimulatedUsb | None = Field(default=None, description="only in a simulated rig's file")

    @field_validator("folder")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        if not v.is_absolute():
            raise ValueError(f"folder {str(v)!r} is not an absolute path")
        return v

    def usb(self) -> UsbExpectation | None:
        if self.usb_vid is None:
            return None
        return UsbExpectation(vid=self.usb_vid, pid=self.usb_pid, serial=self.expected_serial,
                              product_contains=self.product_contains, model=self.model)

    def driver_config(self, *, simulated: bool, watch: Mapping[str, Any] | None = None) -> ScannerConfig:
        opts = {**self.options, **(watch or {})}
        w = _driver_model(WatchConfig, opts, self.RESERVED, folder=self.folder)
        return ScannerConfig(watch=w, limits=self.limits, usb=self.usb(), simulated=simulated)

    @model_validator(mode="after")
    def _valid(self) -> "ExportFolderScanner":
        if (self.usb_vid is None) != (self.usb_pid is None):
            raise ValueError("give both usb_vid and usb_pid (or neither: no USB identity check)")
        if self.usb_vid is None and self.expected_serial is not None:
            raise ValueError("expected_serial is the scanner's USB serial: give usb_vid and usb_pid too")
        self.driver_config(simulated=False)
        return self


EmgEntry = Annotated[BitalinoEmg | LslEmg, Field(discriminator="driver")]
PlateEntry = Annotated[CellBoardPlate | BalanceBoardPlate | LslPlate, Field(discriminator="driver")]


@dataclass(frozen=True)
class RigDevice:
    """One device of the rig as `rig check` and pre-flight name it: a BITalino board by its stream (`emg_a`),
    any other instrument by its section (`emg`, `jaw`, `plate`, `scanner`)."""

    name: str
    instrument: Instrument
    driver: str
    expected_serial: str | None
    where: str


class RigConfig(BaseModel):
    """The whole rig file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = Field(default=1, description="rig file format version")
    name: str = Field(pattern=_IDENT, description="the rig's name, e.g. the exam room: 'lyon-room-2'")
    simulated: bool = Field(default=False, description="written by `amuse-acq rig simulate`: simulated devices")
    emg: EmgEntry | None = None
    jaw: AuroraJaw | None = None
    plate: PlateEntry | None = None
    scanner: ExportFolderScanner | None = None

    @model_validator(mode="after")
    def _whole_rig(self) -> "RigConfig":
        devices = self.devices()
        if not devices:
            raise ValueError("the rig has no instrument: give at least one of [emg], [jaw], [plate], [scanner]")
        names = [d.name for d in devices]
        if len(set(names)) != len(names):
            raise ValueError(f"two devices of the rig have the same name: {names}")
        ports = self._ports()
        for i, (name, spec) in enumerate(ports):
            for other, other_spec in ports[:i]:
                if spec.same_port(other_spec):
                    raise ValueError(f"{other} and {name} are both on {spec.where()}: two instruments cannot share "
                                     "a port")
        if self.scanner is not None and self.scanner.simulated_usb is not None and not self.simulated:
            raise ValueError("scanner.simulated_usb is only for a simulated rig (simulated = true)")
        return self

    def _ports(self) -> list[tuple[str, SerialPort]]:
        out: list[tuple[str, SerialPort]] = []
        if isinstance(self.emg, BitalinoEmg):
            out += [(b.stream, b) for b in self.emg.boards]
        if self.jaw is not None:
            out.append(("jaw", self.jaw))
        if isinstance(self.plate, CellBoardPlate):
            out.append(("plate", self.plate))
        return out

    def devices(self) -> tuple[RigDevice, ...]:
        """Every device, in rig order: EMG (board by board), jaw, plate, scanner."""
        out: list[RigDevice] = []
        if isinstance(self.emg, BitalinoEmg):
            out += [RigDevice(b.stream, "emg", "bitalino", b.expected_serial, b.where()) for b in self.emg.boards]
        elif isinstance(self.emg, LslEmg):
            out.append(RigDevice("emg", "emg", "lsl", self.emg.expected_serial, f"LSL stream {self.emg.lsl_name!r}"))
        if self.jaw is not None:
            out.append(RigDevice("jaw", "jaw", "aurora", self.jaw.expected_serial, self.jaw.where()))
        if self.plate is not None:
            where = {CellBoardPlate: lambda p: p.where(), BalanceBoardPlate: lambda p: f"evdev {p.device}",
                     LslPlate: lambda p: f"LSL stream {p.stream_name!r}"}[type(self.plate)](self.plate)
            out.append(RigDevice("plate", "plate", self.plate.driver, self.plate.expected_serial, where))
        if self.scanner is not None:
            s = self.scanner
            usb = f", USB {s.usb_vid:04x}:{s.usb_pid:04x}" if s.usb_vid is not None and s.usb_pid is not None else ""
            out.append(RigDevice("scanner", "scanner", "export_folder", s.expected_serial,
                                 f"export folder {s.folder}{usb}"))
        return tuple(out)


# -- loading ---------------------------------------------------------------------------------------------
_UNIONS = ("emg", "plate")
_TAGS = {"bitalino", "lsl", "cell_board", "balance_board"}


def error_line(exc: ValidationError) -> str:
    """The first problem of a rig file as one line naming its key (`emg.boards[1].port: ...`)."""
    errs = exc.errors(include_url=False)
    e = errs[0]
    loc = list(e.get("loc", ()))
    if len(loc) > 1 and loc[0] in _UNIONS and loc[1] in _TAGS:
        del loc[1]  # the driver tag pydantic puts in the path of a discriminated union
    key = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in loc).lstrip(".")
    if e.get("type") == "union_tag_not_found":
        msg = "missing key `driver`"
    else:
        msg = _message(e)
    given = e.get("input")
    shown = f" (given {given!r})" if e.get("type") not in ("missing", "extra_forbidden") \
        and not isinstance(given, dict | list) and repr(given)[:60] not in msg else ""
    more = f" (+{len(errs) - 1} more problem(s))" if len(errs) > 1 else ""
    return f"{key + ': ' if key else ''}{msg}{shown}{more}"


def parse_rig(text: str, *, source: str = "rig file") -> RigConfig:
    """A rig from TOML text; RigConfigError (one line, naming `source` and the key) if it cannot be used."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RigConfigError(one_line(f"{source}: not valid TOML: {exc}")) from None
    try:
        return RigConfig.model_validate(data)
    except ValidationError as exc:
        raise RigConfigError(one_line(f"{source}: {error_line(exc)}")) from None


def load_rig(path: Path) -> RigConfig:
    """The rig file at `path`, validated (RigConfigError: one line)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RigConfigError(f"rig file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RigConfigError(one_line(f"rig file {path}: cannot be read: {getattr(exc, 'strerror', None) or exc}")) \
            from None
    return parse_rig(text, source=f"rig file {path}")


def is_simulated_rig_file(path: Path) -> bool:
    """True if `path` holds a valid rig file that says `simulated = true` (which `rig simulate` may overwrite)."""
    try:
        return load_rig(path).simulated
    except RigConfigError:
        return False

