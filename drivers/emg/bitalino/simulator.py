"""Wire-level BITalino (r)evolution simulator: the device's end of the serial line on a pty.

It answers every command of the public (r)evolution API byte for byte (version, state, battery threshold,
sampling rate, start live / simulated mode, stop, go-idle, digital outputs, PWM) and, in live mode, streams
frames paced in real time at the device's own rate (nominal x (1 + drift_ppm 1e-6), the shared
`PacedSimulator` of drivers/common/paced_sim.py) from an `EmgGenerator`,
converted to ADC codes through the inverse of the EMG sensor transfer function. It records the true emission
time of every frame (LSL clock when its bytes were written) for the timestamp bench.

The simulator never announces itself on the wire (a real client must not be able to tell the difference);
whoever starts it marks the driver configuration `simulated=True` (demo, tests, `amuse-acq simulate`).

Faults (`FAULTS`), fired in live mode at the next frame: bad_crc, truncated, garbage, seq_jump,
stall (backlog sent afterwards, as a device buffer would), unplug (pty closed; replugged after `unplug_s` behind
the same symlink; the device is then idle with its counter reset, as after a Bluetooth/USB reconnect), drift
(the board's crystal runs `drift_ppm` off from then on, 100 ppm if unset).
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

import numpy as np

from acquisition.lslenv import local_clock
from drivers.common.faults import FaultName, FaultSwitchboard
from drivers.common.paced_sim import PacedSimulator
from drivers.common.pty_port import PtyPort
from drivers.emg.bitalino import commands as cmd
from drivers.emg.bitalino.codec import BitalinoState, channel_widths, encode_frame, encode_state, frame_length
from drivers.emg.bitalino.transfer import uv_to_codes

DEFAULT_VERSION = "BITalino_v5.2"


class SignalSource(Protocol):
    channels: tuple[str, ...]

    def next(self, n: int) -> np.ndarray: ...

    def set_step(self, step: str, duration_s: float) -> None: ...


class _Decimated:
    """EmgGenerator runs at >= 1 kHz; slower BITalino rates (1/10/100 Hz) take every k-th sample."""

    def __init__(self, gen: Any, k: int) -> None:
        self._gen, self._k = gen, k
        self.channels = tuple(gen.channels)

    def next(self, n: int) -> np.ndarray:
        return self._gen.next(n * self._k)[:: self._k]

    def set_step(self, step: str, duration_s: float) -> None:
        self._gen.set_step(step, duration_s)


def default_signal(rate: float, seed: int, params: Any = None) -> SignalSource:
    """The EmgGenerator at the board's rate; `params` (an `EmgParams`) sets the subject (e.g. a bad electrode)."""
    from drivers.signals.emg import EmgGenerator

    if rate >= 1000:
        return EmgGenerator(rate=rate, seed=seed, params=params)
    return _Decimated(EmgGenerator(rate=1000.0, seed=seed, params=params), int(round(1000 / rate)))


class BitalinoSimulator(PacedSimulator):
    """One BITalino board. `inputs` names, for A1..A6, the generator channel wired to it (None = floating).
    `emg_params` (an `EmgParams`, with the default signal) sets the simulated subject's known levels, e.g.
    `EmgParams().with_bad_electrode("TA_L")`; `truth` then gives them (`EmgTruth`)."""

    _thread_name = "bitalino-sim"
    device_name = "bitalino"
    FAULTS: ClassVar[tuple[FaultName, ...]] = ("bad_crc", "truncated", "garbage", "seq_jump", "stall", "unplug", "drift")

    def __init__(
        self,
        *,
        link: str | os.PathLike[str] | None = None,
        inputs: Sequence[str | None] = ("TA_R", "TA_L", "MM_R", "MM_L", None, None),
        seed: int = 0,
        version: str = DEFAULT_VERSION,
        faults: FaultSwitchboard | None = None,
        drift_ppm: float | None = None,
        fault_interval_s: float = 0.0,
        battery_code: int = 870,
        signal_factory: Callable[[float, int], SignalSource] = default_signal,
        emg_params: Any = None,
        clock: Callable[[], float] = local_clock,
        record: bool = True,
        block: int = 50,
    ) -> None:
        if len(inputs) > 6:
            raise ValueError("a BITalino has six analog inputs A1..A6")
        if emg_params is not None:
            if signal_factory is not default_signal:
                raise ValueError("emg_params sets the default signal's subject; give it or a signal_factory, not both")
            signal_factory = lambda rate, seed: default_signal(rate, seed, emg_params)  # noqa: E731
        super().__init__(port=PtyPort(link), rate=1000.0, faults=faults, drift_ppm=drift_ppm,
                         fault_interval_s=fault_interval_s, clock=clock)
        self.inputs = tuple(inputs) + (None,) * (6 - len(inputs))
        self.version = version
        self.battery_code = battery_code
        self._seed = seed
        self._signal_factory = signal_factory
        self._record = record
        self._block = block
        self._rng = random.Random(seed + 7919)
        self._lock = threading.RLock()
        # device state
        self.rate = 1000
        self.mode = "idle"  # idle | live | simulated
        self.mask = 0
        self.battery_threshold = 0
        self.outputs = [0, 0]
        self.pwm_value = 0
        self._pending_pwm = False
        self.commands: list[int] = []  # every byte received, for tests
        # timeline
        self._signal: SignalSource = signal_factory(float(self.rate), seed)
        self._k_next = 0  # next global frame index on the device's sample clock
        self._k_session0 = 0  # global index of the first frame of the current acquisition
        self._ahead = np.empty((0, 6), dtype=np.uint16)
        self._k_ahead0 = 0
        self._last_codes = [512] * 6
        self._protocol_step: tuple[str, float] | None = None
        # truth
        self.sent_k: list[np.ndarray] = []
        self.sent_t: list[np.ndarray] = []
        self.sent_codes: list[np.ndarray] = []
        self.skipped_k: list[int] = []
        self.sessions: list[tuple[int, float]] = []  # (first global index, time of the start command)
        self.frames_sent = 0

    # -- lifecycle --------------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self.port.path

    @property
    def device_rate(self) -> float:
        return self.device_clock.rate_eff

    def start(self) -> "BitalinoSimulator":
        if self._thread is None:
            super().start()
        return self

    def set_step(self, step: str, duration_s: float = 10.0) -> None:
        with self._lock:
            self._protocol_step = (step, duration_s)
            self._signal.set_step(step, duration_s)

    # -- truth ----------------------------------------------------------------------------------------------
    @property
    def truth(self) -> Any:
        """The signal's ground truth (`EmgTruth` of the default signal; None for a signal without one)."""
        gen = getattr(self._signal, "_gen", self._signal)
        return getattr(gen, "truth", None)

    def emissions(self) -> tuple[np.ndarray, np.ndarray]:
        """(global frame index, LSL time its bytes were written) of every frame sent so far."""
        with self._lock:
            if not self.sent_k:
                return np.empty(0, np.int64), np.empty(0, np.float64)
            return np.concatenate(self.sent_k), np.concatenate(self.sent_t)

    def sent(self) -> np.ndarray:
        """ADC codes of every frame sent, (n, acquired channels), in order."""
        with self._lock:
            return np.concatenate(self.sent_codes) if self.sent_codes else np.empty((0, 0), np.uint16)

    def ideal_time(self, k: np.ndarray) -> np.ndarray:
        """When the device's (drifting) sample clock ticked for global frame index k."""
        return self.device_clock.tick_time(np.asarray(k, dtype=np.float64))  # type: ignore[arg-type, return-value]

    # -- PacedSimulator hooks ---------------------------------------------------------------------------
    def _on_bytes(self, data: bytes) -> None:
        with self._lock:
            for b in data:
                self._on_byte(b)

    def _next_due(self, now: float) -> float | None:
        if self.mode == "idle" or not self.device_clock.started:
            return None
        return self.device_clock.tick_time(self._k_next)

    def _on_due(self, now: float) -> None:
        if self.mode != "idle":
            self._emit_due()

    # -- commands -------------------------------------------------------------------------------------------
    def _reply(self, data: bytes) -> None:
        self.port.write(data)

    def _on_byte(self, b: int) -> None:
        self.commands.append(b)
        if self._pending_pwm:
            self._pending_pwm = False
            self.pwm_value = b
            return
        if b == cmd.IDLE_ANY:
            self.mode = "idle"
            return
        if b == cmd.PWM:
            self._pending_pwm = True
            return
        if b & 0xF3 == cmd.TRIGGER_BASE:
            self.outputs = [(b >> 2) & 1, (b >> 3) & 1]
            return
        if self.mode != "idle":
            if b == cmd.STOP:
                self.mode = "idle"
            return  # everything else is ignored in live mode
        low = b & 0x03
        if b == cmd.VERSION:
            self._reply(self.version.encode("ascii") + b"\n")
        elif b == cmd.STATE:
            st = BitalinoState(
                analog=tuple(int(c) for c in self._last_codes),  # type: ignore[arg-type]
                battery=self.battery_code,
                battery_threshold=self.battery_threshold,
                digital=(0, 0, self.outputs[0], self.outputs[1]),
            )
            self._reply(encode_state(st))
        elif low == 0x03 and (b & 0x3C) == 0:
            new_rate = cmd.RATE_BY_CODE[b >> 6]
            if new_rate != self.rate:
                self.rate = new_rate
                self._signal = self._signal_factory(float(new_rate), self._seed)
                if self._protocol_step is not None:
                    self._signal.set_step(*self._protocol_step)
                self.device_clock.set_rate(float(new_rate), self._clock())
                self.device_clock.stop()  # the sample clock restarts at the next start command
                self._k_next = 0
        elif low in (0x01, 0x02):
            mask = b >> 2
            if mask:
                self._start(mask, simulated=(low == 0x02))
        elif low == 0x00:
            self.battery_threshold = b >> 2
        # any other byte: not a command the firmware knows; ignored

    def _start(self, mask: int, *, simulated: bool) -> None:
        now = self._clock()
        dc = self.device_clock
        if not dc.started:
            dc.start(now, 0)
            self._k_next = 0
            self._ahead = np.empty((0, 6), dtype=np.uint16)
            self._k_ahead0 = 0
        else:
            # the device's sample clock ran on while idle: skip the signal forward to now
            k_now = max(self._k_next, dc.due(now) - 1)
            self._advance_signal_to(k_now)
            self._k_next = k_now
        self.mask = mask
        self.mode = "simulated" if simulated else "live"
        self._k_session0 = self._k_next
        self.sessions.append((self._k_next, now))
        self._stalled_until = 0.0

    # -- signal ---------------------------------------------------------------------------------------------
    def _codes_block(self, n: int) -> np.ndarray:
        uv = self._signal.next(n)
        names = list(self._signal.channels)
        out = np.full((n, 6), 512, dtype=np.uint16)
        for i, src in enumerate(self.inputs):
            if src is not None:
                out[:, i] = uv_to_codes(uv[:, names.index(src)])
        return out

    def _advance_signal_to(self, k: int) -> None:
        """Make sure _ahead starts at global index k (generating and dropping what lies before)."""
        have_end = self._k_ahead0 + len(self._ahead)
        if k <= have_end:
            self._ahead = self._ahead[k - self._k_ahead0 :]
        else:
            todo = k - have_end
            while todo > 0:
                m = min(todo, 10000)
                self._codes_block(m)
                todo -= m
            self._ahead = np.empty((0, 6), dtype=np.uint16)
        self._k_ahead0 = k

    def _take_codes(self, k0: int, n: int) -> np.ndarray:
        self._advance_signal_to(k0)
        while len(self._ahead) < n:
            self._ahead = np.concatenate([self._ahead, self._codes_block(max(self._block, n - len(self._ahead)))])
        out = self._ahead[:n]
        self._ahead = self._ahead[n:]
        self._k_ahead0 = k0 + n
        return out

    # -- emission -------------------------------------------------------------------------------------------
    def _writable(self, timeout: float) -> bool:
        return self.port.writable(timeout)

    def _emit_due(self) -> None:
        with self._lock:
            if self.mode == "idle" or not self.device_clock.started:
                return
            now = self._clock()
            if self.stalled(now):
                return
            due = self.device_clock.due(now) - self._k_next
            if due <= 0:
                return
            faults = self.faults
            if self._fire("unplug"):
                self._begin_unplug(now)
                self.mode = "idle"
                self._pending_pwm = False
                return
            if self._fire("stall"):
                self._begin_stall(now)
                return
            if not self._writable(0.05):
                return  # the host is not reading: the frames stay due and go out later, in order
            due = min(due, 2000)
            chans = [i for i in range(6) if self.mask & (1 << i)]
            n_ch = len(chans)
            if self._fire("seq_jump"):
                j = faults.settings.seq_jump
                self._take_codes(self._k_next, j)
                self.skipped_k.extend(range(self._k_next, self._k_next + j))
                self._k_next += j
                return
            k0 = self._k_next
            codes = self._take_codes(k0, due)
            if self.mode == "simulated":
                ramp = (np.arange(k0, k0 + due) % 1024).astype(np.uint16)
                codes = np.repeat(ramp[:, None], 6, axis=1)
            widths = channel_widths(n_ch)
            sel = codes[:, chans].copy()
            for c, w in enumerate(widths):
                if w < 10:
                    sel[:, c] >>= 10 - w  # the 6-bit inputs carry the top bits
            self._last_codes = [int(v) for v in codes[-1]]
            digital = (0, 0, self.outputs[0], self.outputs[1])
            out = bytearray()
            for i in range(due):
                k = k0 + i
                frame = encode_frame((k - self._k_session0) & 0x0F, sel[i], digital)
                if i == 0:
                    if self._fire("garbage"):
                        out += bytes(self._rng.randrange(256) for _ in range(faults.settings.garbage_bytes))
                    if self._fire("bad_crc"):
                        frame = frame[:-1] + bytes([frame[-1] ^ 0x05])
                    elif self._fire("truncated"):
                        frame = frame[: max(1, frame_length(n_ch) // 2)]
                out += frame
            t_write = self._clock()
            if not self.port.write(bytes(out)):
                return
            self._k_next = k0 + due
            self.frames_sent += due
            if self._record:
                self.sent_k.append(np.arange(k0, k0 + due, dtype=np.int64))
                self.sent_t.append(np.full(due, t_write))
                self.sent_codes.append(sel)

    def info(self) -> dict[str, Any]:
        return {"path": self.path, "version": self.version, "drift_ppm": self.drift_ppm, "rate": self.rate}


__all__ = ["BitalinoSimulator", "DEFAULT_VERSION"]
