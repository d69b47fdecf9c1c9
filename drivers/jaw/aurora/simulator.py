"""Device side of an NDI Aurora (or Polaris) on a pseudo-terminal: the Combined API subset the driver uses,
byte for byte, fed by the JawGenerator so the ground truth is known.

What it does like the device:
- power-up / serial break -> "RESETBE6F" at 9600 baud; a break arrives on a tty as a NUL byte (termios without
  IGNBRK/PARMRK), which is how the simulator sees it (a pty has no line-break signalling of its own);
- a new client session is answered: when the host closes the port, the simulator returns to its power-up state
  (9600 baud, not initialised). A real client that finds the system silent at its rate sends a break, which a pty
  cannot carry (drivers/common/host_watch.py), so the close stands in for it;
- it reads the host's line speed from the pty's termios: while host and device rates differ, host bytes are
  dropped and replies go out as noise, as on a real UART;
- the set-up commands of `sim_commands.py`; TX and BX (option 0001) return the latest frame: TX as text
  (codec.py), BX as the binary reply of `sim_replies.py`;
- an internal frame counter advancing at the device rate on the device's own clock (`PacedSimulator`'s
  `DeviceClock`, `drift_ppm` off the host);
- two tools whose poses come from `sim_pose.PoseModel`, and optionally a third, a pointer (`pointer_tip_mm`: its
  tip in its own frame), out of the field until `set_pointer(True)` puts its tip on the incisal point (the
  jaw-reference calibration; `pointer_slip_mm` makes the tip wander, a hand that slips).
Faults (`FAULTS`): bad_crc, truncated, garbage, seq_jump, stall (replies wait), unplug (pty closed, then a new
pty behind the same symlink, the device power-cycled), drift (the device clock runs `drift_ppm` off from then on).
Every fired fault is counted by the switchboard.
"""

from __future__ import annotations

import os
import random
import termios
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from acquisition.clock import local_clock
from drivers.common.faults import FaultName, FaultSwitchboard
from drivers.common.paced_sim import PacedSimulator
from drivers.common.pty_port import PtyPort
from drivers.jaw.aurora import commands as cmds
from drivers.jaw.aurora.crc import crc_hex
from drivers.jaw.aurora.sim_commands import SetupCommands
from drivers.jaw.aurora.sim_pose import JawSignal, PoseModel, default_generator
from drivers.jaw.aurora.sim_replies import SimTool, ToolSample, bx_body, bx_frame, tx_text

_BAUD_BY_TERMIOS = {getattr(termios, f"B{b}"): b for b in (9600, 19200, 38400, 57600, 115200, 230400, 921600)
                    if hasattr(termios, f"B{b}")}

__all__ = ["AuroraSimulator", "JawSignal", "default_generator"]


class AuroraSimulator(SetupCommands, PacedSimulator):
    """Run with `start()`, stop with `close()`. `path` is what the driver opens."""

    _thread_name = "aurora-sim"
    device_name = "aurora"
    FAULTS: ClassVar[tuple[FaultName, ...]] = ("bad_crc", "truncated", "garbage", "seq_jump", "stall", "unplug", "drift")

    def __init__(
        self,
        *,
        link: str | os.PathLike[str] | None = None,
        rate: float = 40.0,
        seed: int = 0,
        faults: FaultSwitchboard | None = None,
        drift_ppm: float | None = None,
        fault_interval_s: float = 0.0,
        generator: JawSignal | None = None,
        model: str = "Aurora",
        serial: str = "P6-00417",
        firmware: str = "008.004",
        api_revision: str = "G.001.005",
        head_serial: str = "3C5A11B0",
        jaw_serial: str = "3C5A11B1",
        incisal_offset_mm: tuple[float, float, float] = (0.0, 15.0, 25.0),
        icp_head_mm: tuple[float, float, float] = (0.0, -70.0, 85.0),
        pointer_tip_mm: tuple[float, float, float] | None = None,
        pointer_serial: str = "3C5A11B2",
        pointer_slip_mm: float = 0.0,
        reset_delay_s: float = 0.02,
        clock: Callable[[], float] = local_clock,
    ) -> None:
        super().__init__(port=PtyPort(link), rate=rate, faults=faults, drift_ppm=drift_ppm,
                         fault_interval_s=fault_interval_s, clock=clock)
        self.rate = float(rate)
        self._gen = generator if generator is not None else default_generator(rate, seed)
        self.model, self.serial, self.firmware, self.api_revision = model, serial, firmware, api_revision
        self.pose = PoseModel(incisal_offset_mm, icp_head_mm)
        self._rng = random.Random(seed)
        self._gen_lock = threading.Lock()  # set_step comes from another thread than the device loop
        self._reset_delay = reset_delay_s
        self._tools = [SimTool(0x0A, head_serial, "head"), SimTool(0x0B, jaw_serial, "jaw")]
        self.pointer_tip = None if pointer_tip_mm is None else np.asarray(pointer_tip_mm, dtype=np.float64)
        self.pointer_slip_mm = float(pointer_slip_mm)
        if self.pointer_tip is not None:
            self._tools.append(SimTool(0x0C, pointer_serial, "pointer", missing=True))
        self.counters: dict[str, int] = {"commands": 0, "tx": 0, "bx": 0, "errors_sent": 0, "resets": 0,
                                         "baud_mismatch_bytes": 0, "sessions_ended": 0}
        # truth: frame number -> (true host time of the frame, generator row)
        self.truth: deque[tuple[int, float, np.ndarray]] = deque(maxlen=200_000)
        self._session = -1
        self._power_on()

    # -- device state ------------------------------------------------------------------------------
    def _power_on(self) -> None:
        self.baud = cmds.RESET_BAUD
        self.initialized = False
        self.tracking = False
        self._buf = bytearray()
        self._pending: deque[bytes] = deque()
        self._stalled_until = 0.0
        for t in self._tools:
            t.initialized = t.enabled = False
        # the counter restarts at each power-up; each session gets its own range so truth lookups stay unique
        self._session += 1
        self._frame_base = (self._session << 24) + self._rng.randrange(0, 1 << 20)
        self.device_clock.start(self._clock())
        self._k = -1
        self._freeze_until_k = -1
        self._frozen: tuple[int, str, bytes] | None = None
        self._last_row = np.zeros(6)

    @property
    def path(self) -> str:
        return self.port.path

    @property
    def incisal_offset(self) -> np.ndarray:
        return self.pose.incisal_offset

    @property
    def icp_head(self) -> np.ndarray:
        return self.pose.icp_head

    @property
    def period(self) -> float:
        """Device frame period in host seconds (device clock `drift_ppm` fast -> shorter period)."""
        return self.device_clock.period

    def set_step(self, step: str, duration_s: float = 10.0) -> None:
        with self._gen_lock:
            self._gen.set_step(step, duration_s)

    def set_missing(self, role: str, missing: bool) -> None:
        for t in self._tools:
            if t.role == role:
                t.missing = missing

    def set_pointer(self, on_incisal_point: bool) -> None:
        """The pointer's tip on the incisal point (tracked), or put away (MISSING: out of the field)."""
        if self.pointer_tip is None:
            raise ValueError("this simulated tracker has no pointer (give pointer_tip_mm)")
        self.set_missing("pointer", not on_incisal_point)

    def poses(self, t: float, row: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(q_head, t_head, q_jaw, t_jaw) in the tracker frame for one generator row at host time t."""
        return self.pose.poses(t, row)

    # -- PacedSimulator hooks ----------------------------------------------------------------------
    def _on_bytes(self, data: bytes) -> None:
        self._receive(data)

    def _next_due(self, now: float) -> float | None:
        return now if self._pending else None

    def _on_due(self, now: float) -> None:
        while self._pending and self._unplugged_until is None and not self.stalled(self._clock()):
            self._handle(self._pending.popleft())

    def _on_replug(self) -> None:
        self._power_on()

    def _on_host_closed(self) -> None:
        self.counters["sessions_ended"] += 1
        self._power_on()

    # -- line --------------------------------------------------------------------------------------
    def _host_baud(self) -> int | None:
        attrs = self.port.host_termios()  # termios is per tty: the host's settings of the slave side
        if attrs is None:
            return None
        return _BAUD_BY_TERMIOS.get(attrs[5])

    def _baud_ok(self) -> bool:
        host = self._host_baud()
        return host is None or host == self.baud

    def _write(self, data: bytes) -> None:
        if not self._baud_ok():
            data = bytes(self._rng.randrange(256) for _ in range(len(data)))
        self.port.write(data)

    def _send(self, text: str, *, crc_ok: bool = True) -> None:
        body = text.encode("ascii")
        crc = crc_hex(body)
        if not crc_ok:
            crc = b"%04X" % (int(crc, 16) ^ 0x5A5A)
        self._write(body + crc + b"\r")

    def _error(self, code: int) -> None:
        self.counters["errors_sent"] += 1
        self._send(f"ERROR{code:02X}")

    def _receive(self, data: bytes) -> None:
        if b"\x00" in data:  # a serial break: reset to 9600 baud, forget everything
            data = data[data.rindex(b"\x00") + 1 :]
            self._power_on()
            self.counters["resets"] += 1
            self._stop.wait(self._reset_delay)
            self._send("RESET")
        if not data:
            return
        if not self._baud_ok():
            self.counters["baud_mismatch_bytes"] += len(data)
            return
        self._buf.extend(data)
        while True:
            i = self._buf.find(b"\r")
            if i < 0:
                if len(self._buf) > 2048:
                    self._buf.clear()
                    self._error(0x02)
                return
            line = bytes(self._buf[:i])
            del self._buf[: i + 1]
            self._pending.append(line)

    def _handle(self, line: bytes) -> None:
        self.counters["commands"] += 1
        try:
            c = cmds.parse(line)
        except cmds.CommandSyntaxError as exc:
            self._error(exc.code)
            return
        handler = getattr(self, f"_cmd_{c.name.lower()}", None)
        if handler is None:
            self._error(0x01)
            return
        handler(c.params.strip())

    def _start_tracking(self) -> None:
        self.tracking = True
        self.device_clock.start(self._clock())
        self._k = -1

    # -- tracking replies --------------------------------------------------------------------------
    def _advance(self, now: float) -> int:
        k = self.device_clock.due(now) - 1
        if k > self._k:
            n = k - self._k
            with self._gen_lock:
                rows = self._gen.next(n)
            for j in range(n):
                kk = self._k + 1 + j
                self.truth.append((self._frame_base + kk, self.device_clock.tick_time(kk), rows[j]))
            self._last_row = rows[-1]
            self._k = k
        return self._k

    def _frame_replies(self) -> tuple[int, str, bytes]:
        """(frame, TX text, BX body) of the latest frame (or of the frozen one during a seq_jump)."""
        k = self._advance(self._clock())
        if self._freeze_until_k >= 0 and k < self._freeze_until_k and self._frozen is not None:
            return self._frozen
        self._freeze_until_k = -1
        frame = self._frame_base + k
        t_k = self.device_clock.tick_time(k)
        qh, th, qj, tj = self.pose.poses(t_k, self._last_row)
        poses = [(qh, th), (qj, tj)]
        if self.pointer_tip is not None:
            poses.append(self.pose.pointer_pose(t_k, qj, tj, self.pointer_tip, self.pointer_slip_mm))
        samples = [ToolSample(tool, q, t, 0.05 + 0.01 * self._rng.random())
                   for tool, (q, t) in zip(self._tools, poses, strict=True)]
        self._frozen = (frame, tx_text(samples, frame), bx_body(samples, frame))
        return self._frozen

    def _tracking_reply(self, p: str, counter: str) -> tuple[str, bytes] | None:
        if not self.tracking:
            self._error(0x0C)
            return None
        if p not in ("", "0001"):
            self._error(0x07)
            return None
        self.counters[counter] += 1
        _, text, body = self._frame_replies()
        return text, body

    def _cmd_tx(self, p: str) -> None:
        got = self._tracking_reply(p, "tx")
        if got is not None:
            self._reply_with_faults(got[0].encode("ascii"), binary=False)

    def _cmd_bx(self, p: str) -> None:
        got = self._tracking_reply(p, "bx")
        if got is not None:
            self._reply_with_faults(got[1], binary=True)

    def _reply_with_faults(self, body: bytes, *, binary: bool) -> None:
        s = self.faults.settings
        now = self._clock()
        if self._fire("seq_jump"):
            self._freeze_until_k = self._k + s.seq_jump  # the device drops frames: next new frame jumps ahead
        if self._fire("stall"):
            self._begin_stall(now)
        if self._fire("unplug"):
            self._begin_unplug(now)
            return
        if self._fire("garbage"):
            junk = bytes(self._rng.choice(range(1, 256)) for _ in range(s.garbage_bytes)).replace(b"\r", b"?")
            self._write(junk.replace(b"\xc4", b"?"))
        crc_ok = True
        if self._fire("truncated"):
            whole = bx_frame(body) if binary else body + crc_hex(body) + b"\r"
            cut = whole[: max(1, len(whole) // 2)]
            self._write(cut if binary else cut + crc_hex(body) + b"\r")
            return
        if self._fire("bad_crc"):
            crc_ok = False
        if binary:
            self._write(bx_frame(body, body_crc_ok=crc_ok))
        else:
            self._send(body.decode("ascii"), crc_ok=crc_ok)

    # -- truth -------------------------------------------------------------------------------------
    def truth_arrays(self) -> dict[str, Any]:
        """frames (int64, ascending), times (true host time of each frame), xyz (generator incisal point rel. ICP,
        mm). Frame numbers of later power-up sessions are larger, so `np.searchsorted` maps frames to truth."""
        items = sorted(self.truth, key=lambda i: i[0])
        return {
            "frames": np.array([i[0] for i in items], dtype=np.int64),
            "times": np.array([i[1] for i in items]),
            "xyz": np.array([i[2][:3] for i in items]).reshape(-1, 3),
        }
