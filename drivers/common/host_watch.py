"""Who has the host end of a pty open: inotify open/close events on the slave device node.

Why: a real client that finds a tracker silent at its rate sends a serial break, and the device resets to 9600
baud. A pseudo-terminal cannot carry a break (Linux ptys have no break control: `tcsendbreak` is a no-op), so a
simulator would stay at the rate of the previous client and never answer the next one. The host closing its last
descriptor of the port is the one thing a pty does show; a simulator treats it as the end of a client session.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct

IN_OPEN = 0x20
IN_CLOSE_WRITE = 0x08
IN_CLOSE_NOWRITE = 0x10
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_EVENT = struct.Struct("iIII")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class HostOpenWatch:
    """Counts the host's opens and closes of one device node; `take_sessions_ended()` returns how many times its
    open count fell back to zero since the last call. Without inotify (another OS) it reports none."""

    def __init__(self, path: str) -> None:
        self._fd = -1
        self._open = 0
        self._ended = 0
        try:
            fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd < 0:
                return
            if _libc.inotify_add_watch(fd, os.fsencode(path), IN_OPEN | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE) < 0:
                os.close(fd)
                return
            self._fd = fd
        except (AttributeError, OSError):
            self._fd = -1

    def _drain(self) -> None:
        if self._fd < 0:
            return
        while True:
            try:
                data = os.read(self._fd, 4096)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            off = 0
            while off + _EVENT.size <= len(data):
                _, mask, _, name_len = _EVENT.unpack_from(data, off)
                off += _EVENT.size + name_len
                if mask & IN_OPEN:
                    self._open += 1
                if mask & (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE):
                    self._open = max(0, self._open - 1)
                    if self._open == 0:
                        self._ended += 1

    @property
    def host_open(self) -> bool:
        self._drain()
        return self._open > 0

    def take_sessions_ended(self) -> int:
        self._drain()
        n, self._ended = self._ended, 0
        return n

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
