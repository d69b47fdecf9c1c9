"""Find a board's serial port: by configured path (udev symlink) or by USB VID/PID/serial number."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from serial.tools import list_ports

from acquisition.source import SourceError
from drivers.emg.bitalino.config import BoardConfig


def describe_port(p: Any) -> str:
    vid = f"{p.vid:04x}" if p.vid is not None else "----"
    pid = f"{p.pid:04x}" if p.pid is not None else "----"
    return f"{p.device} [{vid}:{pid} serial={p.serial_number or '-'} {p.description or ''}]".strip()


def find_port(board: BoardConfig, *, comports: Callable[[], Iterable[Any]] = list_ports.comports) -> tuple[str, str | None]:
    """(path to open, USB serial number or None). Raises SourceError naming what was expected and found."""
    if board.path is not None:
        if not os.path.exists(board.path):
            raise SourceError(
                f"BITalino board {board.stream!r}: expected a serial device at {board.path!r}, found nothing there"
            )
        return board.path, board.usb_serial
    ports = list(comports())
    hits = [
        p
        for p in ports
        if p.vid == board.usb_vid
        and p.pid == board.usb_pid
        and (board.usb_serial is None or p.serial_number == board.usb_serial)
    ]
    want = f"USB {board.usb_vid:04x}:{board.usb_pid:04x}" + (f" serial={board.usb_serial}" if board.usb_serial else "")
    if len(hits) == 1:
        return hits[0].device, hits[0].serial_number
    found = "; ".join(describe_port(p) for p in ports) or "no serial ports at all"
    if not hits:
        raise SourceError(f"BITalino board {board.stream!r}: expected {want}, found: {found}")
    raise SourceError(
        f"BITalino board {board.stream!r}: {want} matches {len(hits)} ports ({found}); set usb_serial or a path"
    )
