"""What the record keeps of a device's path: the name a data manager can act on, not the exam room's file tree.

A driver opens `/dev/serial/by-id/usb-PLUX_BITalino-if00`, `/dev/ttyUSB0`, or (the simulated rig) a symlink in
a temporary folder such as `/tmp/amuse-rig-k3j2/dev/bitalino_a`. The visit file outlives that tree: an absolute
path says where the software happened to run (a user's home, a temp folder name) and nothing about the device.
Kept: the device node relative to `/dev` (`ttyUSB0`, `serial/by-id/usb-PLUX_BITalino-if00`, `input/event5`),
the last component of any other path (`bitalino_a`), a URL-like port unchanged (`socket://127.0.0.1:5000`).
Logs keep the full path (the operator troubleshoots with it); the record keeps the label.
"""

from __future__ import annotations

from pathlib import PurePosixPath


def port_label(path: str) -> str:
    """'/dev/ttyUSB0' -> 'ttyUSB0'; '/tmp/amuse-rig-x/dev/bitalino_a' -> 'bitalino_a'; '' -> 'unknown'."""
    if not path:
        return "unknown"
    if "://" in path:
        return path
    p = PurePosixPath(path)
    if p.is_absolute() and p.parts[:2] == ("/", "dev") and len(p.parts) > 2:
        return str(p.relative_to("/dev"))
    return p.name or "unknown"


def transport_label(kind: str, path: str) -> str:
    """`DeviceIdentity.transport` for a device reached through `path`: 'serial:ttyUSB0', 'evdev:input/event5'."""
    return f"{kind}:{port_label(path)}"
