"""Driver-side serial port that survives an unplug: reports it, retries, and says when it is back.

The driver polls `read()`; while the device is gone, `read()` returns b'' and retries opening the configured
path (a udev symlink or /dev/serial/by-id/... path) every `retry_s`. Each successful (re)open increments
`generation`, so the driver knows to re-initialise the device (set rate, start streaming) and to reset its
counter->clock fit. Transitions are returned by `take_transitions()` as ('disconnected'|'reconnected', detail).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import serial

from acquisition.lslenv import local_clock
from acquisition.source import SourceError


class SerialLink:
    def __init__(
        self,
        path: str,
        *,
        baudrate: int = 115200,
        retry_s: float = 0.2,
        clock: Callable[[], float] = local_clock,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = path
        self.baudrate = baudrate
        self._retry_s = retry_s
        self._clock = clock
        self._sleep = sleep
        self._port: serial.Serial | None = None
        self._next_try = 0.0
        self.generation = 0
        self.disconnects = 0
        self._transitions: list[tuple[str, str]] = []
        self.disconnected_at: float | None = None

    @property
    def connected(self) -> bool:
        return self._port is not None

    def open(self) -> None:
        """First open: a missing device is a clear error, not a retry loop."""
        try:
            self._port = serial.Serial(self.path, self.baudrate, timeout=0, write_timeout=1.0)
        except (serial.SerialException, OSError) as exc:
            raise SourceError(f"serial device {self.path!r} cannot be opened: {exc}") from None
        self.generation += 1

    def set_baudrate(self, baudrate: int) -> None:
        self.baudrate = baudrate
        if self._port is not None:
            self._port.baudrate = baudrate

    def _lost(self, why: str) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except Exception:  # noqa: BLE001 - closing a dead port may fail in many ways
                pass
        self._port = None
        self.disconnects += 1
        self.disconnected_at = self._clock()
        self._next_try = self._clock() + self._retry_s
        self._transitions.append(("disconnected", why))

    def _try_reopen(self) -> None:
        now = self._clock()
        if now < self._next_try:
            return
        self._next_try = now + self._retry_s
        try:
            self._port = serial.Serial(self.path, self.baudrate, timeout=0, write_timeout=1.0)
        except (serial.SerialException, OSError):
            return
        self.generation += 1
        gone = now - (self.disconnected_at or now)
        self._transitions.append(("reconnected", f"after {gone:.2f} s"))

    def take_transitions(self) -> list[tuple[str, str]]:
        out, self._transitions = self._transitions, []
        return out

    def read(self, timeout: float, max_bytes: int = 65536) -> bytes:
        """Whatever bytes are available (waiting up to `timeout`), b'' on timeout or while disconnected."""
        if self._port is None:
            self._try_reopen()
            if self._port is None:
                self._sleep(min(timeout, self._retry_s))
                return b""
        port = self._port
        try:
            if port.timeout != timeout:  # pyserial reconfigures termios on every assignment
                port.timeout = timeout
            first = port.read(1)
            if not first:
                return b""
            waiting = port.in_waiting
            rest = port.read(min(waiting, max_bytes - 1)) if waiting else b""
            return first + rest
        except (serial.SerialException, OSError, TypeError) as exc:
            # pyserial raises SerialException (or TypeError on a closed fd) when the pty/USB device vanished
            self._lost(str(exc) or type(exc).__name__)
            return b""

    def write(self, data: bytes) -> bool:
        if self._port is None:
            return False
        try:
            self._port.write(data)
            return True
        except (serial.SerialException, OSError) as exc:
            self._lost(str(exc) or type(exc).__name__)
            return False

    def reset_input(self) -> None:
        if self._port is not None:
            try:
                self._port.reset_input_buffer()
            except (serial.SerialException, OSError) as exc:
                self._lost(str(exc))

    def send_break(self, duration: float = 0.25) -> None:
        if self._port is not None:
            try:
                self._port.send_break(duration)
            except (serial.SerialException, OSError, termios_error()) as exc:
                self._lost(str(exc))

    def close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            finally:
                self._port = None


def termios_error() -> type[Exception]:
    import termios

    return termios.error
