"""Simulated Wii Balance Board: the kernel side of hid-wiimote's input device.

Transports (the driver reads both through the same code path as a real board):
- `uinput` (when /dev/uinput is writable): a real input device named "Nintendo Wii Remote Balance Board",
  057E:0306 over Bluetooth, ABS_HAT0X..ABS_HAT1Y 0..65535 fuzz 2 flat 4 (as hid-wiimote registers them); the
  kernel then does the defuzzing, drops unchanged axes and stamps the events itself.
- `fifo` (fallback): a FIFO carrying the 24-byte `struct input_event` records, written the way evdev would
  deliver them: input-core defuzz (fuzz 2), only changed axes, a SYN_REPORT closing each report, reports with no
  change dropped, CLOCK_MONOTONIC stamps; SYN_DROPPED when the reader does not keep up (pipe full), after which
  the next report carries all four axes (what the reader's state re-read would give).

Reports come at irregular intervals (mean `mean_interval_s`, uniform jitter `jitter_s`, like the board's
Bluetooth timing) from a `SwayGenerator` running at `gen_rate` Hz; the generator's true cells and COP are kept
(`truth()`) when `keep_truth` is set, on the same monotonic clock as the stamps.

Faults (`FAULTS`, FaultSwitchboard names, fired at the next report): garbage (stray bytes), truncated (a cut
record), seq_jump (SYN_DROPPED + `seq_jump` reports lost), stall (no report for `stall_s`), unplug (writer closed /
uinput device destroyed for `unplug_s`). garbage/truncated/seq_jump need the FIFO transport (the kernel writes the
records of a uinput device): on uinput only `UINPUT_FAULTS` are accepted. Anything else (bad_crc, drift, ...) is
refused with `UnsupportedFault` when armed, before or after the simulator is made.

Calibration (`amuse-acq calibrate plate-tare | plate-mass`): `place_load(PlateLoad)` puts a still known mass (or
nothing) on the board instead of the subject until `place_load(None)`; `errors=CellErrors(...)` is the board's true
miscalibration (per-cell gain error and zero offset its EEPROM calibration does not know), applied to every load.
Like hid-wiimote, a cell never reads below 0 (the kernel clamps): a negative zero offset is invisible on an empty
board, so a simulated tare error is a positive `zero_kg`.

Why no `drift`: the board has no sample counter and no clock of its own on the wire; every report is stamped by
the host kernel when it arrives (CLOCK_MONOTONIC), so a crystal off by some ppm changes nothing the driver can see.

Why not `PacedSimulator`: that base paces a device behind a pty (a serial line, bytes both ways); this board
writes input events one way, to a FIFO or to uinput, at irregular (Bluetooth) intervals, not at a nominal rate.
It shares the thread lifecycle (`ThreadedSimulator`) and the fault switchboard instead.
"""

from __future__ import annotations

import errno
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from evdev import ecodes

from drivers.common.sim_thread import ThreadedSimulator
from drivers.common.faults import FaultName, FaultSwitchboard
from drivers.signals.plate_load import CellErrors, PlateLoad
from drivers.stabilometry.config import PlateGeometry
from drivers.stabilometry.evdev_reader import CELL_CODES
from drivers.stabilometry.evdev_records import pack_event

BOARD_NAME = "Nintendo Wii Remote Balance Board"
VENDOR, PRODUCT = 0x057E, 0x0306
FUZZ = 2


def uinput_usable() -> bool:
    return os.access("/dev/uinput", os.W_OK)


def defuzz(value: int, old: int, fuzz: int = FUZZ) -> int:
    """The input core's `input_defuzz_abs_event` (drivers/input/input.c)."""
    if fuzz:
        if old - fuzz // 2 < value < old + fuzz // 2:
            return old
        if old - fuzz < value < old + fuzz:
            return (old * 3 + value) // 4
        if old - fuzz * 2 < value < old + fuzz * 2:
            return (old + value) // 2
    return value


class _Fifo:
    kind = "fifo"

    def __init__(self, path: Path, stop: threading.Event) -> None:
        self.path = path
        if not path.exists():
            os.mkfifo(path, 0o600)
        self._stop = stop
        self._fd = -1
        self.overflow = False

    def _ensure_open(self) -> bool:
        if self._fd >= 0:
            return True
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno in (errno.ENXIO, errno.ENOENT):
                return False  # no reader yet
            raise
        return True

    def write(self, data: bytes) -> bool:
        """Write records (atomically: <= PIPE_BUF); False when nobody reads or the pipe is full."""
        if not self._ensure_open():
            return False
        try:
            os.write(self._fd, data)
            return True
        except BlockingIOError:
            self.overflow = True
            return False
        except OSError:  # EPIPE: the reader went away; wait for the next one
            self.unplug()
            return False

    def unplug(self) -> None:
        if self._fd >= 0:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = -1

    def replug(self) -> None:
        pass  # the next write reopens

    def close(self) -> None:
        self.unplug()


class _UInput:
    kind = "uinput"

    def __init__(self) -> None:
        self._ui = None
        self.replug()

    @property
    def path(self) -> str:
        return self._ui.device.path if self._ui is not None else ""

    def replug(self) -> None:
        from evdev import AbsInfo, UInput

        absinfo = AbsInfo(value=0, min=0, max=65535, fuzz=FUZZ, flat=4, resolution=0)
        caps = {ecodes.EV_ABS: [(c, absinfo) for c in CELL_CODES], ecodes.EV_KEY: [ecodes.BTN_A]}
        self._ui = UInput(caps, name=BOARD_NAME, vendor=VENDOR, product=PRODUCT, version=1, bustype=0x05,
                          phys="amuse-sim/balance-board")

    def send(self, codes: np.ndarray) -> None:
        if self._ui is None:
            return
        for c, v in zip(CELL_CODES, codes):
            self._ui.write(ecodes.EV_ABS, c, int(v))
        self._ui.syn()

    def unplug(self) -> None:
        if self._ui is not None:
            self._ui.close()
            self._ui = None

    def close(self) -> None:
        self.unplug()


class BalanceBoardSimulator(ThreadedSimulator):
    _thread_name = "wbb-sim"
    device_name = "balance-board"
    #: the faults it fires on the FIFO transport, and on uinput (where the kernel writes the records)
    FAULTS: ClassVar[tuple[FaultName, ...]] = ("truncated", "garbage", "seq_jump", "stall", "unplug")
    UINPUT_FAULTS: ClassVar[tuple[FaultName, ...]] = ("stall", "unplug")

    def __init__(self, *, transport: Literal["auto", "uinput", "fifo"] = "auto", fifo_path: str | None = None,
                 seed: int = 0, mass_kg: float = 70.0, geometry: PlateGeometry | None = None,
                 mean_interval_s: float = 0.010, jitter_s: float = 0.004, gen_rate: float = 1000.0,
                 faults: FaultSwitchboard | None = None, keep_truth: bool = False, errors: CellErrors | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        from drivers.signals.sway import SwayGenerator

        geometry = geometry or PlateGeometry()
        self.gen = SwayGenerator(rate=gen_rate, seed=seed, mass_kg=mass_kg, width_mm=geometry.width_mm,
                                 depth_mm=geometry.depth_mm)
        self.gen.set_step("stab_eyes_open", 3600.0)
        self._geometry = geometry
        self.errors = errors or CellErrors()
        self._load: PlateLoad | None = None
        if transport == "auto":
            transport = "uinput" if uinput_usable() else "fifo"
        self.faults = faults if faults is not None else FaultSwitchboard()
        self.faults.restrict(self.UINPUT_FAULTS if transport == "uinput" else self.FAULTS,
                             f"{self.device_name} ({transport})")
        self._rate = gen_rate
        self._mean = mean_interval_s
        self._jitter = jitter_s
        self._rng = np.random.default_rng(seed + 7919)
        self._clock, self._sleep = clock, sleep
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending_step: tuple[str, float] | None = None
        self._keep = keep_truth
        self._truth_t: list[np.ndarray] = []
        self._truth_cop: list[np.ndarray] = []
        self._truth_cells: list[np.ndarray] = []
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if transport == "uinput":
            self._tx: _Fifo | _UInput = _UInput()
        else:
            if fifo_path is None:
                self._tmpdir = tempfile.TemporaryDirectory(prefix="amuse-wbb-")
                fifo_path = os.path.join(self._tmpdir.name, "balance-board.events")
            self._tx = _Fifo(Path(fifo_path), self._stop)
        self.transport = self._tx.kind
        self._thread: threading.Thread | None = None
        self.reports_sent = 0
        self.syn_dropped_sent = 0

    @property
    def path(self) -> str:
        return str(self._tx.path)

    def set_step(self, step: str, duration_s: float = 3600.0) -> None:
        with self._lock:
            self._pending_step = (step, duration_s)

    def place_load(self, load: PlateLoad | None) -> None:
        """From the next report on: `load` stands still on the board instead of the subject (None: the subject)."""
        with self._lock:
            self._load = load

    def _release(self) -> None:
        self._tx.close()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def truth(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(t monotonic (n,), true COP (n, 2) mm, true cells (n, 4) kg) of every generator sample so far."""
        with self._lock:
            if not self._truth_t:
                return np.empty(0), np.empty((0, 2)), np.empty((0, 4))
            return (np.concatenate(self._truth_t), np.concatenate(self._truth_cop),
                    np.concatenate(self._truth_cells))

    # -- the board ---------------------------------------------------------------------------------
    def _run(self) -> None:
        t0 = self._clock()
        produced = 0
        last = np.full(4, -(10**6), dtype=np.int64)  # what the reader last saw per axis (forces a full report)
        drop_reports = 0
        full_next = True
        next_t = t0 + self._interval()
        st = self.faults.settings
        while not self._stop.is_set():
            delay = next_t - self._clock()
            if delay > 0:
                self._sleep(min(delay, 0.05))
                continue
            with self._lock:
                if self._pending_step is not None:
                    self.gen.set_step(*self._pending_step)
                    self._pending_step = None
                load = self._load
            j = int((next_t - t0) * self._rate)
            n = j + 1 - produced
            if n <= 0:
                next_t += self._interval()
                continue
            if load is None:
                cells, cop = self.gen.next(n)
            else:
                cells, cop = load.cells(n, width_mm=self._geometry.width_mm, depth_mm=self._geometry.depth_mm)
            times = t0 + np.arange(produced, produced + n) / self._rate
            produced += n
            if self._keep:
                with self._lock:
                    self._truth_t.append(times)
                    self._truth_cop.append(np.asarray(cop, dtype=np.float64))
                    self._truth_cells.append(np.asarray(cells, dtype=np.float64))
            stamp = float(times[-1])
            read = self.errors.apply(np.asarray(cells[-1:], dtype=np.float64), self._rng)[0]
            codes = np.clip(np.rint(read * 100.0), 0, 65535).astype(np.int64)
            next_t += self._interval()
            # -- faults ------------------------------------------------------------------------------
            if self.faults.take("stall"):
                next_t += st.stall_s
                continue
            if self.faults.take("unplug"):
                self._tx.unplug()
                self._stop.wait(st.unplug_s)
                self._tx.replug()
                last[:] = -(10**6)
                next_t = max(next_t, self._clock())
                continue
            if isinstance(self._tx, _UInput):
                self._tx.send(codes)
                self.reports_sent += 1
                continue
            if self.faults.take("garbage"):
                self._tx.write(self._rng.integers(0, 256, st.garbage_bytes, dtype=np.uint8).tobytes())
            if self.faults.take("seq_jump"):
                drop_reports = st.seq_jump
                self._send_dropped(stamp)
                full_next = True
            if drop_reports > 0:
                drop_reports -= 1
                continue
            truncated = self.faults.take("truncated")
            recs = []
            for i, code in enumerate(CELL_CODES):
                v = int(codes[i]) if full_next else defuzz(int(codes[i]), int(last[i]))
                if full_next or v != last[i]:
                    recs.append((code, v))
            if not recs:
                continue  # nothing changed: the input core sends nothing at all
            sec, usec = int(stamp), int(round((stamp - int(stamp)) * 1e6))
            if usec >= 1_000_000:
                sec, usec = sec + 1, usec - 1_000_000
            data = b"".join(pack_event(sec, usec, ecodes.EV_ABS, c, v) for c, v in recs)
            data += pack_event(sec, usec, ecodes.EV_SYN, ecodes.SYN_REPORT, 0)
            if truncated:
                data = data[:10]  # a cut record: the reader must resync on the next good one
            if self._tx.overflow:
                self._tx.overflow = False
                self._send_dropped(stamp)
                full_next = True
                continue
            if self._tx.write(data) and not truncated:
                for c, v in recs:
                    last[CELL_CODES.index(c)] = v
                full_next = False
                self.reports_sent += 1
            elif not truncated:
                full_next = True  # not delivered (no reader / full): state must be resent in full

    def _send_dropped(self, stamp: float) -> None:
        sec, usec = int(stamp), min(int((stamp - int(stamp)) * 1e6), 999_999)
        if self._tx.write(pack_event(sec, usec, ecodes.EV_SYN, ecodes.SYN_DROPPED, 0)):
            self.syn_dropped_sent += 1

    def _interval(self) -> float:
        return max(0.001, self._mean + self._rng.uniform(-self._jitter, self._jitter))
