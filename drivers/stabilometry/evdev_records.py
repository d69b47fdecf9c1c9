"""`struct input_event` records on a byte stream, parsed into `evdev.InputEvent`s, errors counted.

A real evdev character device always returns whole records, and python-evdev's own reader is used for it
(`evdev_reader.py`). A FIFO or socket carrying the same records (the simulator's fallback when /dev/uinput is
not usable) is a byte stream: it can deliver a partial record, a cut record or stray bytes. This parser keeps
partial records for the next call, checks each 24-byte candidate (usec < 10^6, known event type, code in range,
time not jumping), and on a bad candidate skips one byte and counts it, so alignment is found again at the next
good record. Random bytes give counted errors, never an exception.

Layout on 64-bit Linux: struct timeval {long sec; long usec}; __u16 type; __u16 code; __s32 value (24 bytes).
"""

from __future__ import annotations

import struct

from evdev import InputEvent, ecodes

RECORD = struct.Struct("@llHHi")
RECORD_SIZE = RECORD.size  # 24 on 64-bit Linux

#: largest valid code per event type the balance board (and the input core around it) can send
_MAX_CODE = {
    ecodes.EV_SYN: ecodes.SYN_DROPPED,
    ecodes.EV_KEY: ecodes.KEY_MAX,
    ecodes.EV_ABS: ecodes.ABS_MAX,
    ecodes.EV_MSC: ecodes.MSC_MAX,
}


def pack_event(sec: int, usec: int, type_: int, code: int, value: int) -> bytes:
    """One record, as the kernel writes it (used by the simulator)."""
    return RECORD.pack(sec, usec, type_, code, value)


class RecordParser:
    """Byte stream -> validated InputEvents. Counters: `records`, `bad_records`, `bytes_skipped`, `resyncs`."""

    def __init__(self, *, max_time_jump_s: float = 3600.0) -> None:
        self._buf = bytearray()
        self._max_jump = max_time_jump_s
        self._last_t: float | None = None
        self._time_rejects = 0
        self._in_bad_run = False
        self.records = 0
        self.bad_records = 0
        self.bytes_skipped = 0
        self.resyncs = 0

    def reset(self) -> None:
        """Forget partial data and time reference (new connection)."""
        self._buf.clear()
        self._last_t = None
        self._time_rejects = 0
        self._in_bad_run = False

    @property
    def pending(self) -> int:
        return len(self._buf)

    def _valid(self, sec: int, usec: int, type_: int, code: int, value: int) -> bool:
        if sec < 0 or not 0 <= usec < 1_000_000:
            return False
        max_code = _MAX_CODE.get(type_)
        if max_code is None or code > max_code:
            return False
        if type_ == ecodes.EV_KEY and value not in (0, 1, 2):
            return False
        t = sec + usec * 1e-6
        if self._last_t is not None and abs(t - self._last_t) > self._max_jump:
            self._time_rejects += 1
            if self._time_rejects > 64:  # the reference itself was wrong: take the new time
                self._last_t = None
                self._time_rejects = 0
            return False
        return True

    def feed(self, data: bytes) -> list[InputEvent]:
        buf = self._buf
        buf.extend(data)
        out: list[InputEvent] = []
        i = 0
        n = len(buf)
        while n - i >= RECORD_SIZE:
            sec, usec, type_, code, value = RECORD.unpack_from(buf, i)
            if self._valid(sec, usec, type_, code, value):
                out.append(InputEvent(sec, usec, type_, code, value))
                self._last_t = sec + usec * 1e-6
                self._time_rejects = 0
                self.records += 1
                self._in_bad_run = False
                i += RECORD_SIZE
            else:
                if not self._in_bad_run:
                    self.bad_records += 1
                    self.resyncs += 1
                    self._in_bad_run = True
                self.bytes_skipped += 1
                i += 1
        del buf[:i]
        return out
