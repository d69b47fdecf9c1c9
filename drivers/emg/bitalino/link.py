"""`SerialLink` without the per-read port reconfiguration.

pyserial's `timeout` setter re-applies the whole termios configuration (tcgetattr + tcsetattr) on every
assignment, and `SerialLink.read` assigns it on every call: at 1000 reads/s per board that dominated the driver's
CPU. This subclass assigns it only when the value changes. (Wanted upstream in drivers/common/serial_link.py.)
"""

from __future__ import annotations

import serial

from drivers.common.serial_link import SerialLink


class FastSerialLink(SerialLink):
    def read(self, timeout: float, max_bytes: int = 65536) -> bytes:
        if self._port is None:
            return super().read(timeout, max_bytes)
        port = self._port
        try:
            if port.timeout != timeout:
                port.timeout = timeout
            first = port.read(1)
            if not first:
                return b""
            waiting = port.in_waiting
            rest = port.read(min(waiting, max_bytes - 1)) if waiting else b""
            return first + rest
        except (serial.SerialException, OSError, TypeError) as exc:
            self._lost(str(exc) or type(exc).__name__)
            return b""
