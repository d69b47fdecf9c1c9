"""Simulated AMUSE-CB4 board: the device's end of the serial line, on a pty (drivers/common/pty_port.py).

Samples come from a `SwayGenerator` (kg per cell) turned into raw counts by the inverse of the board's
calibration (counts = offset + kg / kg_per_count, plus ~1 count of noise), paced in real time at
`rate * (1 + drift_ppm 1e-6)`. Commands are the ASCII lines of codec.py. Faults (FaultSwitchboard): bad_crc,
truncated, garbage, seq_jump (counter skips `seq_jump`: samples lost on the device), stall (silence for
`stall_s`, then the backlog at once), unplug (pty gone for `unplug_s`, a new one behind the same symlink; the
board restarts like a power cycle: stopped, counter 0). Every generated sample's true COP is kept by sample
index (`truth()`), the index the driver's `device_seq` counts when nothing is unplugged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from drivers.common.sim_thread import ThreadedSimulator
from drivers.common.faults import FaultSwitchboard
from drivers.common.pty_port import PtyPort
from drivers.stabilometry.cell_board.codec import encode_reply, encode_sample
from drivers.stabilometry.config import PlateGeometry

MODEL = "AMUSE-CB4"
FIRMWARE = "1.0.0"
RATES = (25, 50, 100, 200, 400)
FACTORY_OFFSETS = (8123, -5210, 3011, 12000)
FACTORY_KG_PER_COUNT = (1 / 86000.0, 1 / 85250.0, 1 / 86710.0, 1 / 85900.0)


class CellBoardSimulator(ThreadedSimulator):
    _thread_name = "cb4-sim"

    def __init__(self, *, link: str | None = None, seed: int = 0, mass_kg: float = 70.0,
                 geometry: PlateGeometry | None = None, serial: str = "SIM-CB4-000123",
                 faults: FaultSwitchboard | None = None, noise_counts: float = 1.0, keep_truth: bool = False,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        from drivers.signals.sway import SwayGenerator

        geometry = geometry or PlateGeometry()
        self._gen_args = dict(seed=seed, mass_kg=mass_kg, width_mm=geometry.width_mm, depth_mm=geometry.depth_mm)
        self._SwayGenerator = SwayGenerator
        self.port = PtyPort(link)
        self.serial = serial
        self.faults = faults or FaultSwitchboard()
        self.offsets = np.array(FACTORY_OFFSETS, dtype=np.float64)
        self.kg_per_count = np.array(FACTORY_KG_PER_COUNT, dtype=np.float64)
        self._noise = noise_counts
        self._rng = np.random.default_rng(seed + 104729)
        self._clock, self._sleep = clock, sleep
        self._keep = keep_truth
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rate = 100
        self.streaming = False
        self.counter = 0
        self.index = 0  # samples generated since START (truth index)
        self._t_start = 0.0
        self._last_raw = np.tile(self.offsets, (1, 1))
        self._gen = self._new_gen()
        self._pending_step: tuple[str, float] | None = None
        self._step = ("stab_eyes_open", 3600.0)
        self._truth: list[np.ndarray] = []
        self._cmd = bytearray()
        self.samples_sent = 0

    def _new_gen(self):
        g = self._SwayGenerator(rate=float(self.rate), **self._gen_args)
        return g

    @property
    def path(self) -> str:
        return self.port.path

    def set_step(self, step: str, duration_s: float = 3600.0) -> None:
        with self._lock:
            self._pending_step = (step, duration_s)

    def truth(self) -> np.ndarray:
        """(n, 2) true COP mm of every sample generated since the last START (row = sample index)."""
        with self._lock:
            return np.concatenate(self._truth) if self._truth else np.empty((0, 2))

    def emission_times(self, index: np.ndarray) -> np.ndarray:
        """True emission time (monotonic = LSL clock) of samples `index` of the current run (drift included)."""
        return self._t_start + np.asarray(index, dtype=np.float64) * self._period()

    def _release(self) -> None:
        self.port.close()

    # -- device ---------------------------------------------------------------------------------------
    def _period(self) -> float:
        return 1.0 / (self.rate * (1.0 + self.faults.settings.drift_ppm * 1e-6))

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.faults.take("unplug"):
                self.port.unplug()
                self._stop.wait(self.faults.settings.unplug_s)
                self.streaming = False  # a bus-powered board restarts
                self.counter = 0
                self._cmd.clear()
                self.port.replug()
                continue
            wait = 0.02
            if self.streaming:
                due = self._t_start + self.index * self._period()
                wait = max(0.0, min(0.02, due - self._clock()))
            data = self.port.read(wait)
            if data:
                self._commands(data)
            if self.streaming:
                self._emit_due()

    def _commands(self, data: bytes) -> None:
        self._cmd += data
        while b"\n" in self._cmd:
            line, _, rest = bytes(self._cmd).partition(b"\n")
            self._cmd = bytearray(rest)
            self._reply(self._handle(line.decode("ascii", "replace").strip()))

    def _handle(self, cmd: str) -> str:
        parts = cmd.split()
        if not parts:
            return "ERR empty command"
        op = parts[0].upper()
        if op == "ID?":
            return f"ID {MODEL};{self.serial};{FIRMWARE}"
        if op == "CAL?":
            o = ",".join(str(int(v)) for v in self.offsets)
            s = ",".join(f"{v:.9e}" for v in self.kg_per_count)
            return f"CAL {o};{s}"
        if op == "RATE":
            if self.streaming:
                return "ERR busy: STOP first"
            try:
                r = int(parts[1])
            except (IndexError, ValueError):
                return "ERR RATE needs an integer"
            if r not in RATES:
                return f"ERR rate {r} not in {','.join(map(str, RATES))}"
            self.rate = r
            return f"OK RATE {r}"
        if op == "START":
            if not self.streaming:
                self.streaming = True
                self.counter = 0
                self.index = 0
                self._gen = self._new_gen()
                self._gen.set_step(*self._step)
                with self._lock:
                    self._truth = []
                self._t_start = self._clock()
            return "OK START"
        if op == "STOP":
            self.streaming = False
            return "OK STOP"
        if op == "TARE":
            if self.streaming:
                return "ERR busy: STOP first"
            self.offsets = np.round(self._last_raw[-1]).astype(np.float64)
            return "OK TARE " + ",".join(str(int(v)) for v in self.offsets)
        return f"ERR unknown command {op[:20]}"

    def _reply(self, text: str) -> None:
        self.port.write(encode_reply(text))

    def _emit_due(self) -> None:
        now = self._clock()
        period = self._period()
        n = int((now - self._t_start) / period) + 1 - self.index
        if n <= 0:
            return
        st = self.faults.settings
        if self.faults.take("seq_jump"):
            # the device loses `seq_jump` samples: generated (and timed) but never sent
            _, lost_cop = self._gen.next(st.seq_jump)
            if self._keep:
                with self._lock:
                    self._truth.append(np.asarray(lost_cop, dtype=np.float64))
            self.counter = (self.counter + st.seq_jump) & 0xFFFF
            self.index += st.seq_jump
            n -= st.seq_jump
            if n <= 0:
                return
        if self.faults.take("stall"):
            self._stop.wait(st.stall_s)  # silence; the backlog goes out next time round
            return
        with self._lock:
            if self._pending_step is not None:
                self._step = self._pending_step
                self._gen.set_step(*self._pending_step)
                self._pending_step = None
        kg, cop = self._gen.next(n)
        kg = np.asarray(kg, dtype=np.float64)
        raw = self.offsets + kg / self.kg_per_count + self._rng.normal(0.0, self._noise, kg.shape)
        raw = np.clip(np.rint(raw), -(1 << 23), (1 << 23) - 1).astype(np.int64)
        self._last_raw = raw
        if self._keep:
            with self._lock:
                self._truth.append(np.asarray(cop, dtype=np.float64))
        out = bytearray()
        for row in raw:
            frame = encode_sample(self.counter, row)
            if self.faults.take("bad_crc"):
                frame = frame[:-2] + bytes([frame[-2] ^ 0xFF, frame[-1]])
            elif self.faults.take("truncated"):
                frame = frame[: len(frame) // 2]
            if self.faults.take("garbage"):
                out += self._rng.integers(0, 256, st.garbage_bytes, dtype=np.uint8).tobytes()
            out += frame
            self.counter = (self.counter + 1) & 0xFFFF
            self.index += 1
            self.samples_sent += 1
        self.port.write(bytes(out))
