"""Simulated AMUSE-CB4 board: the device's end of the serial line, on a pty (drivers/common/pty_port.py).

Samples come from a `SwayGenerator` (kg per cell) turned into raw counts by the inverse of the board's
calibration (counts = offset + kg / kg_per_count, plus ~1 count of noise), paced in real time at
`rate * (1 + drift_ppm 1e-6)` by the shared `PacedSimulator` (drivers/common/paced_sim.py). Commands are the
ASCII lines of codec.py. Faults (`FAULTS`): bad_crc, truncated, garbage, seq_jump (counter skips `seq_jump`:
samples lost on the device), stall (silence for `stall_s`, then the backlog at once; commands still answered),
unplug (pty gone for `unplug_s`, a new one behind the same symlink; the board restarts like a power cycle:
stopped, counter 0), drift (the board's crystal runs `drift_ppm` off from then on, 100 ppm if unset). Every generated sample's true COP is kept by sample
index (`truth()`), the index the driver's `device_seq` counts when nothing is unplugged.

Calibration (`amuse-acq calibrate plate-tare | plate-mass`): `place_load(PlateLoad)` puts a still known mass (or
nothing) on the plate instead of the subject until `place_load(None)`; `errors=CellErrors(...)` is the board's true
miscalibration (per-cell gain error and zero offset its CAL? reply does not know), applied to every load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from drivers.common.faults import FaultName, FaultSwitchboard
from drivers.common.paced_sim import PacedSimulator
from drivers.common.pty_port import PtyPort
from drivers.signals.plate_load import CellErrors, PlateLoad
from drivers.stabilometry.cell_board.codec import encode_reply, encode_sample
from drivers.stabilometry.config import PlateGeometry

MODEL = "AMUSE-CB4"
FIRMWARE = "1.0.0"
RATES = (25, 50, 100, 200, 400)
FACTORY_OFFSETS = (8123, -5210, 3011, 12000)
FACTORY_KG_PER_COUNT = (1 / 86000.0, 1 / 85250.0, 1 / 86710.0, 1 / 85900.0)


class CellBoardSimulator(PacedSimulator):
    _thread_name = "cb4-sim"
    device_name = "cell-board"
    FAULTS: ClassVar[tuple[FaultName, ...]] = ("bad_crc", "truncated", "garbage", "seq_jump", "stall", "unplug", "drift")

    def __init__(self, *, link: str | None = None, seed: int = 0, mass_kg: float = 70.0,
                 geometry: PlateGeometry | None = None, serial: str = "SIM-CB4-000123",
                 faults: FaultSwitchboard | None = None, drift_ppm: float | None = None,
                 fault_interval_s: float = 0.0, noise_counts: float = 1.0, keep_truth: bool = False,
                 errors: CellErrors | None = None, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        from drivers.signals.sway import SwayGenerator

        geometry = geometry or PlateGeometry()
        self._gen_args = dict(seed=seed, mass_kg=mass_kg, width_mm=geometry.width_mm, depth_mm=geometry.depth_mm)
        self._geometry = geometry
        self.errors = errors or CellErrors()
        self._load: PlateLoad | None = None
        self._SwayGenerator = SwayGenerator
        super().__init__(port=PtyPort(link), rate=100.0, faults=faults, drift_ppm=drift_ppm,
                         fault_interval_s=fault_interval_s, clock=clock)
        self.serial = serial
        self.offsets = np.array(FACTORY_OFFSETS, dtype=np.float64)
        self.kg_per_count = np.array(FACTORY_KG_PER_COUNT, dtype=np.float64)
        self._noise = noise_counts
        self._rng = np.random.default_rng(seed + 104729)
        self._sleep = sleep
        self._keep = keep_truth
        self._lock = threading.Lock()
        self.rate = 100
        self.streaming = False
        self.counter = 0
        self.index = 0  # samples generated since START (truth index)
        self._last_raw = np.tile(self.offsets, (1, 1))
        self._gen = self._new_gen()
        self._pending_step: tuple[str, float] | None = None
        self._protocol_step = ("stab_eyes_open", 3600.0)
        self._truth: list[np.ndarray] = []
        self._cmd = bytearray()
        self.samples_sent = 0

    def _new_gen(self) -> Any:
        return self._SwayGenerator(rate=float(self.rate), **self._gen_args)

    @property
    def path(self) -> str:
        return self.port.path

    def set_step(self, step: str, duration_s: float = 3600.0) -> None:
        with self._lock:
            self._pending_step = (step, duration_s)

    def place_load(self, load: PlateLoad | None) -> None:
        """From the next sample on: `load` stands still on the plate instead of the subject (None: the subject)."""
        with self._lock:
            self._load = load

    def truth(self) -> np.ndarray:
        """(n, 2) true COP mm of every sample generated since the last START (row = sample index)."""
        with self._lock:
            return np.concatenate(self._truth) if self._truth else np.empty((0, 2))

    def emission_times(self, index: np.ndarray) -> np.ndarray:
        """True emission time (monotonic = LSL clock) of samples `index` of the current run (drift included)."""
        return self.device_clock.tick_time(np.asarray(index, dtype=np.float64))  # type: ignore[arg-type, return-value]

    # -- device (PacedSimulator hooks) ------------------------------------------------------------------
    def _on_replug(self) -> None:
        self.streaming = False  # a bus-powered board restarts
        self.counter = 0
        self._cmd.clear()

    def _next_due(self, now: float) -> float | None:
        return self.device_clock.tick_time(self.index) if self.streaming else None

    def _on_due(self, now: float) -> None:
        if not self.streaming:
            return
        if self._fire("unplug"):
            self._begin_unplug(now)
            return
        self._emit_due()

    def _on_bytes(self, data: bytes) -> None:
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
            self.device_clock.set_rate(float(r), self._clock())
            return f"OK RATE {r}"
        if op == "START":
            if not self.streaming:
                self.streaming = True
                self.counter = 0
                self.index = 0
                self._gen = self._new_gen()
                self._gen.set_step(*self._protocol_step)
                with self._lock:
                    self._truth = []
                self.device_clock.start(self._clock())
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
        n = self.device_clock.due(now) - self.index
        if n <= 0:
            return
        st = self.faults.settings
        if self._fire("seq_jump"):
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
        if self._fire("stall"):
            self._begin_stall(now)  # silence; the backlog goes out when it ends
            return
        with self._lock:
            if self._pending_step is not None:
                self._protocol_step = self._pending_step
                self._gen.set_step(*self._pending_step)
                self._pending_step = None
        with self._lock:
            load = self._load
        if load is None:
            kg, cop = self._gen.next(n)
        else:
            kg, cop = load.cells(n, width_mm=self._geometry.width_mm, depth_mm=self._geometry.depth_mm)
        kg = self.errors.apply(np.asarray(kg, dtype=np.float64), self._rng)
        raw = self.offsets + kg / self.kg_per_count + self._rng.normal(0.0, self._noise, kg.shape)
        raw = np.clip(np.rint(raw), -(1 << 23), (1 << 23) - 1).astype(np.int64)
        self._last_raw = raw
        if self._keep:
            with self._lock:
                self._truth.append(np.asarray(cop, dtype=np.float64))
        out = bytearray()
        for row in raw:
            frame = encode_sample(self.counter, row)
            if self._fire("bad_crc"):
                frame = frame[:-2] + bytes([frame[-2] ^ 0xFF, frame[-1]])
            elif self._fire("truncated"):
                frame = frame[: len(frame) // 2]
            if self._fire("garbage"):
                out += self._rng.integers(0, 256, st.garbage_bytes, dtype=np.uint8).tobytes()
            out += frame
            self.counter = (self.counter + 1) & 0xFFFF
            self.index += 1
            self.samples_sent += 1
        self.port.write(bytes(out))
