"""Reading the balance board's input events: a real evdev device, or a FIFO/socket of the same records.

- `find_balance_board()` looks through `evdev.list_devices()` for hid-wiimote's balance-board input device
  (name "Nintendo Wii Remote Balance Board", VID:PID 057E:0306, ABS_HAT0X..ABS_HAT1Y). The Wii Remote core
  device has the same VID:PID, so the name and the four HAT axes decide.
- `EvdevReader` opens either an event device (python-evdev `InputDevice`, stamps switched to CLOCK_MONOTONIC)
  or any other path/fd carrying `struct input_event` records (parsed by `RecordParser`).
- `ReportAssembler` turns events into one sample per SYN_REPORT. evdev only sends the axes that changed, so the
  assembler keeps the last value of each cell; a report is complete once each cell has been seen (or read from
  the device's absinfo at open). SYN_DROPPED (the client buffer overflowed) discards events up to the next
  SYN_REPORT and asks for a state re-read, as the evdev documentation prescribes.

Kernel mapping (hid-wiimote-modules.c, wiimod_bboard_in_ext): ABS_HAT0X = top right, ABS_HAT0Y = bottom right,
ABS_HAT1X = top left, ABS_HAT1Y = bottom left, each 0..65535 in units of 10 g (1700 = 17 kg calibration point).
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import stat
import struct
import time
from dataclasses import dataclass, field

import numpy as np
from evdev import InputDevice, InputEvent, ecodes, list_devices

from drivers.stabilometry.evdev_records import RecordParser

CELL_CODES = (ecodes.ABS_HAT0X, ecodes.ABS_HAT0Y, ecodes.ABS_HAT1X, ecodes.ABS_HAT1Y)  # TR BR TL BL
_CELL_INDEX = {c: i for i, c in enumerate(CELL_CODES)}
ABS_LIMIT = 65535
EVIOCSCLOCKID = 0x400445A0  # _IOW('E', 0xa0, int)


def find_balance_board(*, name: str, vendor: int, product: int) -> str | None:
    """Path of the balance board's event device, or None."""
    fallback = None
    for path in list_devices():
        try:
            dev = InputDevice(path)
        except OSError:
            continue
        try:
            info = dev.info
            if dev.name == name:
                return path
            if info.vendor == vendor and info.product == product:
                axes = {c if isinstance(c, int) else c[0] for c in dev.capabilities().get(ecodes.EV_ABS, [])}
                if all(c in axes for c in CELL_CODES):
                    fallback = fallback or path
        finally:
            dev.close()
    return fallback


class DeviceGone(Exception):
    """The event source went away (unplugged device, FIFO writer closed)."""


@dataclass
class ReadResult:
    events: list[InputEvent]
    t_host: float


class EvdevReader:
    """One open event source. `read()` returns events or raises `DeviceGone`."""

    def __init__(self, path: str | int) -> None:
        self.path = path
        self.kind = ""
        self.device: InputDevice | None = None
        self._fd = -1
        self.parser = RecordParser()
        self.clock_monotonic = False
        self.initial_state: dict[int, int] = {}

    # -- open / close -------------------------------------------------------------------------------
    def open(self) -> None:
        if isinstance(self.path, int):
            self._fd = self.path
            os.set_blocking(self._fd, False)
            self.kind = "fd"
            return
        st = os.stat(self.path)
        if stat.S_ISCHR(st.st_mode):
            self.device = InputDevice(self.path)
            self._fd = self.device.fd
            self.kind = "evdev"
            try:
                fcntl.ioctl(self._fd, EVIOCSCLOCKID, struct.pack("i", time.CLOCK_MONOTONIC))
                self.clock_monotonic = True
            except OSError:
                self.clock_monotonic = False
            self.initial_state = self._abs_state()
        else:
            # FIFO / socket / file: O_NONBLOCK so a FIFO opens even before its writer exists
            self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            self.kind = "records"
        self.parser.reset()

    def replaced(self) -> bool:
        """True if the path now names another file than the one open (a new FIFO made by a restarted writer)."""
        if isinstance(self.path, int) or self._fd < 0:
            return False
        try:
            a, b = os.stat(self.path), os.fstat(self._fd)
        except OSError:
            return False
        return (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino)

    def _abs_state(self) -> dict[int, int]:
        out: dict[int, int] = {}
        if self.device is None:
            return out
        for code in CELL_CODES:
            try:
                out[code] = int(self.device.absinfo(code).value)
            except OSError:
                pass
        return out

    def reread_state(self) -> dict[int, int]:
        """Current axis values from the device (after SYN_DROPPED); empty for a record stream."""
        return self._abs_state()

    def identity(self) -> dict[str, str]:
        if self.device is not None:
            return {"name": self.device.name, "phys": self.device.phys or "", "uniq": self.device.uniq or "",
                    "vidpid": f"{self.device.info.vendor:04x}:{self.device.info.product:04x}"}
        return {"name": "", "phys": "", "uniq": "", "vidpid": ""}

    def close(self) -> None:
        if self.device is not None:
            try:
                self.device.close()
            except OSError:
                pass
            self.device = None
        elif self._fd >= 0 and not isinstance(self.path, int):
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = -1

    # -- read ------------------------------------------------------------------------------------------
    def read(self, timeout: float, clock=time.monotonic) -> ReadResult:
        if self._fd < 0:
            raise DeviceGone("not open")
        try:
            ready, _, _ = select.select([self._fd], [], [], max(timeout, 0.0))
        except (OSError, ValueError) as exc:
            raise DeviceGone(str(exc)) from None
        if not ready:
            return ReadResult([], clock())
        if self.device is not None:
            try:
                events = list(self.device.read())
            except BlockingIOError:
                events = []
            except OSError as exc:
                raise DeviceGone(f"{errno.errorcode.get(exc.errno or 0, exc.errno)}: {exc.strerror}") from None
            return ReadResult(events, clock())
        chunks: list[bytes] = []
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            except OSError as exc:
                raise DeviceGone(str(exc)) from None
            if not data:
                if chunks:
                    break  # deliver what we have; EOF shows again on the next call
                raise DeviceGone("end of event stream (writer closed)")
            chunks.append(data)
            if len(data) < 65536:
                break
        t = clock()
        return ReadResult(self.parser.feed(b"".join(chunks)), t)


@dataclass
class Reports:
    t_kernel: np.ndarray  # float64 seconds, event stamp of each SYN_REPORT
    cells: np.ndarray  # (n, 4) int32 TR BR TL BL in 10 g units
    dropped: int = 0  # SYN_DROPPED seen
    bad_values: int = 0
    other: int = 0
    resync_needed: bool = False
    dropped_at: list[float] = field(default_factory=list)


class ReportAssembler:
    """Events -> one sample per SYN_REPORT, holding unchanged axes."""

    def __init__(self) -> None:
        self.state = np.full(4, -1, dtype=np.int64)
        self._dirty = False
        self._dropping = False

    def reset(self, initial: dict[int, int] | None = None) -> None:
        self.state[:] = -1
        self._dirty = False
        self._dropping = False
        if initial:
            self.set_state(initial)

    def set_state(self, values: dict[int, int], *, only_unknown: bool = False) -> None:
        for code, v in values.items():
            if code in _CELL_INDEX and 0 <= v <= ABS_LIMIT:
                i = _CELL_INDEX[code]
                if not only_unknown or self.state[i] < 0:
                    self.state[i] = v

    @property
    def complete(self) -> bool:
        return bool((self.state >= 0).all())

    def feed(self, events: list[InputEvent]) -> Reports:
        ts: list[float] = []
        rows: list[np.ndarray] = []
        out = Reports(np.empty(0), np.empty((0, 4), dtype=np.int32))
        for ev in events:
            if ev.type == ecodes.EV_SYN:
                if ev.code == ecodes.SYN_DROPPED:
                    out.dropped += 1
                    out.dropped_at.append(ev.sec + ev.usec * 1e-6)
                    out.resync_needed = True
                    self._dropping = True
                    self.state[:] = -1  # unknown until re-read (device) or seen again (record stream)
                elif ev.code == ecodes.SYN_REPORT:
                    if self._dropping:
                        self._dropping = False  # events up to here were incomplete: state re-read instead
                    elif self._dirty and self.complete:
                        ts.append(ev.sec + ev.usec * 1e-6)
                        rows.append(self.state.copy())
                    self._dirty = False
                continue
            if self._dropping:
                continue
            if ev.type == ecodes.EV_ABS and ev.code in _CELL_INDEX:
                if 0 <= ev.value <= ABS_LIMIT:
                    self.state[_CELL_INDEX[ev.code]] = ev.value
                    self._dirty = True
                else:
                    out.bad_values += 1
            else:
                out.other += 1  # BTN_A (the board's button), MSC, ... : not part of the load signal
        if rows:
            out.t_kernel = np.asarray(ts, dtype=np.float64)
            out.cells = np.vstack(rows).astype(np.int32)
        return out
