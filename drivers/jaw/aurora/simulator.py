"""Device side of an NDI Aurora (or Polaris) on a pseudo-terminal: the Combined API subset the driver uses,
byte for byte, fed by the JawGenerator so the ground truth is known.

What it does like the device:
- power-up / serial break -> "RESETBE6F" at 9600 baud; a break arrives on a tty as a NUL byte (termios without
  IGNBRK/PARMRK), which is how the simulator sees it (a pty has no line-break signalling of its own);
- it reads the host's line speed from the pty's termios: while host and device rates differ, host bytes are
  dropped and replies go out as noise, as on a real UART;
- INIT, COMM, VER, APIREV, PHSR, PINIT, PENA, PHINF (option 0001), TSTART, TSTOP, TX (option 0001), BEEP;
  space form and colon form (with CRC, checked -> ERROR04); ERRORxx for unknown commands, bad parameters and
  commands invalid in the current mode;
- an internal frame counter advancing at the device rate on the device's own clock (`drift_ppm` off the host);
  TX returns the latest frame;
- two tools: a head reference sensor swaying slowly in the tracker frame, and a mandibular sensor whose pose
  makes the incisal point (at `incisal_offset_mm` in the jaw-sensor frame) follow the generator exactly.
Faults (FaultSwitchboard): bad_crc, truncated, garbage, seq_jump, stall, unplug (pty closed, then a new pty behind
the same symlink, the device power-cycled), plus `drift_ppm` in FaultSettings. Every fired fault is counted.
"""

from __future__ import annotations

import math
import os
import random
import threading
import termios
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from acquisition.clock import local_clock
from drivers.common.faults import FaultSwitchboard
from drivers.common.pty_port import PtyPort
from drivers.jaw.aurora import commands as cmds
from drivers.jaw.aurora.crc import crc_hex
from drivers.jaw.aurora.geometry import matrix_to_quat, rot_x, rot_y, rot_z

PORT_OCCUPIED_INIT_ENABLED = 0x31
PORT_OUT_OF_VOLUME = 0x40

_BAUD_BY_TERMIOS = {getattr(termios, f"B{b}"): b for b in (9600, 19200, 38400, 57600, 115200, 230400, 921600) if hasattr(termios, f"B{b}")}


class JawSignal(Protocol):
    def next(self, n: int) -> np.ndarray: ...

    def set_step(self, step: str, duration_s: float) -> None: ...


def default_generator(rate: float, seed: int) -> JawSignal:
    from drivers.signals.jaw import JawGenerator  # the shared physics (helper in parallel); imported lazily

    return JawGenerator(rate=rate, seed=seed)  # type: ignore[return-value]


class _Tool:
    def __init__(self, handle: int, serial: str, role: str) -> None:
        self.handle = handle
        self.serial = serial
        self.role = role
        self.initialized = False
        self.enabled = False
        self.missing = False


class AuroraSimulator:
    """Run with `start()`, stop with `close()`. `path` is what the driver opens."""

    def __init__(
        self,
        *,
        link: str | os.PathLike[str] | None = None,
        rate: float = 40.0,
        seed: int = 0,
        faults: FaultSwitchboard | None = None,
        generator: JawSignal | None = None,
        model: str = "Aurora",
        serial: str = "P6-00417",
        firmware: str = "008.004",
        api_revision: str = "G.001.005",
        head_serial: str = "3C5A11B0",
        jaw_serial: str = "3C5A11B1",
        incisal_offset_mm: tuple[float, float, float] = (0.0, 15.0, 25.0),
        icp_head_mm: tuple[float, float, float] = (0.0, -70.0, 85.0),
        fault_interval_s: float = 0.0,
        reset_delay_s: float = 0.02,
        clock: Callable[[], float] = local_clock,
    ) -> None:
        self.rate = float(rate)
        self.faults = faults or FaultSwitchboard()
        self._gen = generator if generator is not None else default_generator(rate, seed)
        self.model, self.serial, self.firmware, self.api_revision = model, serial, firmware, api_revision
        self.incisal_offset = np.asarray(incisal_offset_mm, dtype=np.float64)
        self.icp_head = np.asarray(icp_head_mm, dtype=np.float64)
        self._clock = clock
        self._rng = random.Random(seed)
        self._fault_interval = fault_interval_s
        self._reset_delay = reset_delay_s
        self._last_fault = -1e9
        self._port = PtyPort(link)
        self._tools = [_Tool(0x0A, head_serial, "head"), _Tool(0x0B, jaw_serial, "jaw")]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counters: dict[str, int] = {"commands": 0, "tx": 0, "errors_sent": 0, "resets": 0, "baud_mismatch_bytes": 0}
        # truth: frame number -> (true host time of the frame, generator row)
        self.truth: deque[tuple[int, float, np.ndarray]] = deque(maxlen=200_000)
        self._power_on()

    # -- device state ------------------------------------------------------------------------------
    def _power_on(self) -> None:
        self.baud = cmds.RESET_BAUD
        self.initialized = False
        self.tracking = False
        self._buf = bytearray()
        self._pending: deque[bytes] = deque()
        self._stalled_until = 0.0
        self._unplugged_until = 0.0
        for t in self._tools:
            t.initialized = t.enabled = False
        # the counter restarts at each power-up; each session gets its own range so truth lookups stay unique
        self._session = getattr(self, "_session", -1) + 1
        self._frame_base = (self._session << 24) + self._rng.randrange(0, 1 << 20)
        self._t0 = self._clock()
        self._k = -1
        self._freeze_until_k = -1
        self._frozen: tuple[int, str] | None = None
        self._last_row = np.zeros(6)

    @property
    def path(self) -> str:
        return self._port.path

    @property
    def period(self) -> float:
        """Device frame period in host seconds (device clock `drift_ppm` fast -> shorter period)."""
        return (1.0 / self.rate) / (1.0 + self.faults.settings.drift_ppm * 1e-6)

    def set_step(self, step: str, duration_s: float = 10.0) -> None:
        with self._lock:
            self._gen.set_step(step, duration_s)

    def set_missing(self, role: str, missing: bool) -> None:
        for t in self._tools:
            if t.role == role:
                t.missing = missing

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "AuroraSimulator":
        self._thread = threading.Thread(target=self._run, name="aurora-sim", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._port.close()

    def __enter__(self) -> "AuroraSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- line --------------------------------------------------------------------------------------
    def _host_baud(self) -> int | None:
        attrs = self._port.host_termios()  # termios is per tty: the host's settings of the slave side
        if attrs is None:
            return None
        return _BAUD_BY_TERMIOS.get(attrs[5])

    def _baud_ok(self) -> bool:
        host = self._host_baud()
        return host is None or host == self.baud

    def _send(self, text: str, *, crc_ok: bool = True) -> None:
        body = text.encode("ascii")
        crc = crc_hex(body)
        if not crc_ok:
            crc = b"%04X" % (int(crc, 16) ^ 0x5A5A)
        data = body + crc + b"\r"
        if not self._baud_ok():
            data = bytes(self._rng.randrange(256) for _ in range(len(data)))
        self._port.write(data)

    def _error(self, code: int) -> None:
        self.counters["errors_sent"] += 1
        self._send(f"ERROR{code:02X}")

    def _fault(self, name: str) -> bool:
        now = self._clock()
        if now - self._last_fault < self._fault_interval:
            return False
        if self.faults.take(name):  # type: ignore[arg-type]
            self._last_fault = now
            return True
        return False

    # -- main loop ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            now = self._clock()
            if self._unplugged_until:
                if now >= self._unplugged_until:
                    self._power_on()
                    self._port.replug()
                else:
                    self._stop.wait(0.01)
                continue
            data = self._port.read(0.005)
            if data:
                self._receive(data)
            if self._pending and now >= self._stalled_until:
                while self._pending and not self._unplugged_until and self._clock() >= self._stalled_until:
                    self._handle(self._pending.popleft())

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

    # -- commands ----------------------------------------------------------------------------------
    def _ok(self) -> None:
        self._send("OKAY")

    def _cmd_init(self, p: str) -> None:
        if self.tracking:
            self._error(0x0C)
            return
        self.initialized = True
        self._ok()

    def _cmd_comm(self, p: str) -> None:
        if len(p) != 5 or p[0] not in cmds.COMM_BAUD_CODES or p[1:] != "0000":
            self._error(0x06)
            return
        self._ok()  # the reply goes out at the old rate, then the device switches
        self.baud = cmds.COMM_BAUD_CODES[p[0]]

    def _cmd_ver(self, p: str) -> None:
        if p in ("", "0"):
            self._send(
                f"{self.model} Control Firmware\nNDI S/N: {self.serial}\nCharacterization Date: 01/15/26\n"
                f"Freeze Tag: {self.model} Rev {self.firmware}\nFreeze Date: 01/15/26\n(C) Northern Digital Inc."
            )
        elif p == "4":
            self._send(self.firmware)
        else:
            self._error(0x07)

    def _cmd_apirev(self, p: str) -> None:
        self._send(self.api_revision)

    def _cmd_beep(self, p: str) -> None:
        self._send("1")

    def _tool(self, p: str) -> _Tool | None:
        try:
            h = int(p[:2], 16)
        except ValueError:
            return None
        return next((t for t in self._tools if t.handle == h), None)

    def _cmd_phsr(self, p: str) -> None:
        if not self.initialized:
            self._error(0x10)
            return
        opt = p or "00"
        sel = {
            "00": self._tools,
            "01": [],
            "02": [t for t in self._tools if not t.initialized],
            "03": [t for t in self._tools if t.initialized and not t.enabled],
            "04": [t for t in self._tools if t.enabled],
        }.get(opt)
        if sel is None:
            self._error(0x07)
            return
        self._send(f"{len(sel):02X}" + "".join(f"{t.handle:02X}{(0x001 | (0x010 if t.initialized else 0) | (0x020 if t.enabled else 0)):03X}" for t in sel))

    def _cmd_pinit(self, p: str) -> None:
        t = self._tool(p)
        if t is None:
            self._error(0x08)
        elif self.tracking:
            self._error(0x0C)
        else:
            t.initialized = True
            self._ok()

    def _cmd_pena(self, p: str) -> None:
        t = self._tool(p)
        if t is None or len(p) != 3:
            self._error(0x08 if t is None else 0x07)
        elif p[2] not in "SDB":
            self._error(0x09)
        elif not t.initialized:
            self._error(0x0E)
        else:
            t.enabled = True
            self._ok()

    def _cmd_phinf(self, p: str) -> None:
        t = self._tool(p)
        if t is None:
            self._error(0x08)
            return
        opt = p[2:] or "0001"
        if opt != "0001":
            self._error(0x07)
            return
        self._send(f"{'0A000000':8s}{'NDI':12s}{'001':3s}{t.serial[:8]:>8s}{PORT_OCCUPIED_INIT_ENABLED:02X}")

    def _cmd_tstart(self, p: str) -> None:
        if not self.initialized:
            self._error(0x10)
        elif self.tracking:
            self._error(0x0C)
        elif not any(t.enabled for t in self._tools):
            self._error(0x0F)
        else:
            self.tracking = True
            self._t0 = self._clock()
            self._k = -1
            self._ok()

    def _cmd_tstop(self, p: str) -> None:
        self.tracking = False
        self._ok()

    # -- TX ----------------------------------------------------------------------------------------
    def _advance(self, now: float) -> int:
        k = int(math.floor((now - self._t0) / self.period))
        if k > self._k:
            n = k - self._k
            with self._lock:
                rows = self._gen.next(n)
            for j in range(n):
                kk = self._k + 1 + j
                self.truth.append((self._frame_base + kk, self._t0 + kk * self.period, rows[j]))
            self._last_row = rows[-1]
            self._k = k
        return self._k

    def poses(self, t: float, row: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(q_head, t_head, q_jaw, t_jaw) in the tracker frame for one generator row at host time t."""
        # head: slow small sway (deg, mm) around a pose in front of the field generator
        a = 2 * math.pi * 0.11 * t
        r_head = rot_z(math.radians(1.5 * math.sin(a))) @ rot_y(math.radians(2.0 * math.sin(0.7 * a + 1))) @ rot_x(
            math.radians(20.0 + 1.0 * math.sin(1.3 * a))
        )
        t_head = np.array([10.0 + 2.0 * math.sin(0.5 * a), -20.0 + 1.5 * math.sin(0.9 * a), -180.0 + 3.0 * math.sin(0.3 * a)])
        # mandible in the head frame: rotation from the generator's angles, incisal point = ICP + generator xyz
        pitch, yaw, roll = (math.radians(v) for v in row[3:6])
        r_jh = rot_x(-pitch) @ rot_y(yaw) @ rot_z(roll)
        p = self.icp_head + row[0:3]
        t_jh = p - r_jh @ self.incisal_offset
        r_jaw = r_head @ r_jh
        t_jaw = r_head @ t_jh + t_head
        return matrix_to_quat(r_head), t_head, matrix_to_quat(r_jaw), t_jaw

    @staticmethod
    def _transform_text(q: np.ndarray, t: np.ndarray, err: float) -> str:
        qi = [max(-99999, min(99999, int(round(v * 1e4)))) for v in q]
        ti = [max(-999999, min(999999, int(round(v * 100)))) for v in t]
        return "".join(f"{v:+06d}" for v in qi) + "".join(f"{v:+07d}" for v in ti) + f"{int(round(err * 1e4)):+06d}"

    def _cmd_tx(self, p: str) -> None:
        if not self.tracking:
            self._error(0x0C)
            return
        if p not in ("", "0001"):
            self._error(0x07)
            return
        self.counters["tx"] += 1
        now = self._clock()
        k = self._advance(now)
        if self._freeze_until_k >= 0 and k < self._freeze_until_k and self._frozen is not None:
            frame, text = self._frozen
        else:
            self._freeze_until_k = -1
            frame = self._frame_base + k
            t_frame = self._t0 + k * self.period
            qh, th, qj, tj = self.poses(t_frame, self._last_row)
            recs = []
            for tool, (q, t) in zip(self._tools, ((qh, th), (qj, tj))):
                if not tool.enabled:
                    recs.append(f"{tool.handle:02X}DISABLED")
                elif tool.missing:
                    recs.append(f"{tool.handle:02X}MISSING{PORT_OCCUPIED_INIT_ENABLED | PORT_OUT_OF_VOLUME:08X}{frame & 0xFFFFFFFF:08X}")
                else:
                    err = 0.05 + 0.01 * self._rng.random()
                    recs.append(f"{tool.handle:02X}{self._transform_text(q, t, err)}{PORT_OCCUPIED_INIT_ENABLED:08X}{frame & 0xFFFFFFFF:08X}")
            text = f"{len(recs):02X}" + "".join(r + "\n" for r in recs) + "0000"
            self._frozen = (frame, text)
        self._reply_with_faults(text)

    def _reply_with_faults(self, text: str) -> None:
        s = self.faults.settings
        if self._fault("seq_jump"):
            self._freeze_until_k = self._k + s.seq_jump  # the device drops frames: next new frame jumps ahead
        if self._fault("stall"):
            self._stalled_until = self._clock() + s.stall_s
        if self._fault("unplug"):
            self._port.unplug()
            self._unplugged_until = self._clock() + s.unplug_s
            return
        if self._fault("garbage"):
            junk = bytes(self._rng.choice(range(1, 256)) for _ in range(s.garbage_bytes)).replace(b"\r", b"?")
            self._port.write(junk)
        if self._fault("truncated"):
            body = text.encode("ascii")
            cut = body[: max(1, len(body) // 2)]
            self._port.write(cut + crc_hex(body) + b"\r")
            return
        self._send(text, crc_ok=not self._fault("bad_crc"))

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
