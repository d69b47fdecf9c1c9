"""The device's end of a serial line, served on a pseudo-terminal behind a stable symlink.

`unplug()` closes the pty (the driver's next read fails like a yanked USB adapter); `replug()` opens a new pty
and points the same symlink at it, as udev does for `/dev/serial/by-id/...` when the adapter comes back.
`take_host_sessions_ended()` tells a simulator that a client closed the port (drivers/common/host_watch.py).
"""

from __future__ import annotations

import os
import select
import termios
import threading
import tty
from pathlib import Path

from drivers.common.host_watch import HostOpenWatch


class PtyPort:
    """Master side of a pty, with a symlink `link` that always names the current slave."""

    def __init__(self, link: str | os.PathLike[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._master = -1
        self._slave = -1
        self._slave_name = ""
        self._watch: HostOpenWatch | None = None
        self.link: Path | None = Path(link) if link is not None else None
        self._open()

    # -- lifecycle -------------------------------------------------------------------------------
    def _open(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        tty.setraw(master)
        self._master, self._slave = master, slave
        self._slave_name = os.ttyname(slave)
        self._watch = HostOpenWatch(self._slave_name)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".tmp")
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
            tmp.symlink_to(self._slave_name)
            os.replace(tmp, self.link)

    @property
    def path(self) -> str:
        """What a driver opens: the symlink if one was asked for, else the slave device."""
        return str(self.link) if self.link is not None else self._slave_name

    def host_termios(self) -> list | None:
        """The line settings the host side (driver) has set on the slave (baud rate etc.), None if unplugged."""
        fd = self._slave
        if fd < 0:
            return None
        try:
            return termios.tcgetattr(fd)
        except termios.error:
            return None

    @property
    def plugged(self) -> bool:
        return self._master >= 0

    def unplug(self) -> None:
        """Close both ends and remove the symlink: the driver sees EIO / a missing device."""
        with self._lock:
            for fd in (self._master, self._slave):
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._master = self._slave = -1
            if self._watch is not None:
                self._watch.close()
                self._watch = None
            if self.link is not None:
                try:
                    self.link.unlink()
                except FileNotFoundError:
                    pass

    def replug(self) -> None:
        """A new pty behind the same symlink."""
        with self._lock:
            if self._master < 0:
                self._open()

    def close(self) -> None:
        self.unplug()

    def take_host_sessions_ended(self) -> int:
        """How many times the host closed its last descriptor of the port since the last call."""
        w = self._watch
        return w.take_sessions_ended() if w is not None else 0

    # -- I/O (device side) -------------------------------------------------------------------------
    def write(self, data: bytes) -> bool:
        """Write all bytes; False if unplugged or the line broke."""
        fd = self._master
        if fd < 0:
            return False
        view = memoryview(data)
        try:
            while view:
                n = os.write(fd, view)
                view = view[n:]
        except OSError:
            return False
        return True

    def fileno(self) -> int:
        """The master fd (-1 when unplugged)."""
        return self._master

    def writable(self, timeout: float) -> bool:
        """True when a write would not block (the driver is draining the line); False if unplugged."""
        fd = self._master
        if fd < 0:
            return False
        try:
            _, w, _ = select.select([], [fd], [], timeout)
        except (OSError, ValueError):
            return False
        return bool(w)

    def read(self, timeout: float, max_bytes: int = 4096) -> bytes:
        """Bytes the driver sent, waiting at most `timeout` s; b'' on timeout or when unplugged."""
        fd = self._master
        if fd < 0:
            return b""
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                return b""
            return os.read(fd, max_bytes)
        except (OSError, ValueError):
            return b""

    def __enter__(self) -> "PtyPort":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
