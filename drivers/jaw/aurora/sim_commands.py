"""The Combined API set-up commands of the simulated Aurora: INIT, COMM, VER, APIREV, BEEP, PHSR, PINIT, PENA,
PHINF (option 0001), TSTART, TSTOP, with the ERRORxx replies a real system gives for a command that is invalid in
the current mode (ERROR0C tracking, ERROR10 not initialised, ERROR0E port not initialised, ERROR0F no tool
enabled) or has a bad parameter (ERROR06/07/08/09). The tracking replies (TX, BX) live in the simulator itself.
"""

from __future__ import annotations

from drivers.jaw.aurora import commands as cmds
from drivers.jaw.aurora.sim_replies import PORT_OCCUPIED_INIT_ENABLED, SimTool


class SetupCommands:
    """Mixin of `AuroraSimulator`: one `_cmd_<name>(params)` per command; replies through `_send` / `_error`."""

    model: str
    serial: str
    firmware: str
    api_revision: str
    baud: int
    initialized: bool
    tracking: bool
    _tools: list[SimTool]

    def _send(self, text: str, *, crc_ok: bool = True) -> None:
        raise NotImplementedError

    def _error(self, code: int) -> None:
        raise NotImplementedError

    def _start_tracking(self) -> None:
        raise NotImplementedError

    def _ok(self) -> None:
        self._send("OKAY")

    def _tool(self, p: str) -> SimTool | None:
        try:
            h = int(p[:2], 16)
        except ValueError:
            return None
        return next((t for t in self._tools if t.handle == h), None)

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

    def _cmd_phsr(self, p: str) -> None:
        if not self.initialized:
            self._error(0x10)
            return
        sel = {
            "00": self._tools,
            "01": [],
            "02": [t for t in self._tools if not t.initialized],
            "03": [t for t in self._tools if t.initialized and not t.enabled],
            "04": [t for t in self._tools if t.enabled],
        }.get(p or "00")
        if sel is None:
            self._error(0x07)
            return
        status = (lambda t: 0x001 | (0x010 if t.initialized else 0) | (0x020 if t.enabled else 0))
        self._send(f"{len(sel):02X}" + "".join(f"{t.handle:02X}{status(t):03X}" for t in sel))

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
        if (p[2:] or "0001") != "0001":
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
            self._start_tracking()
            self._ok()

    def _cmd_tstop(self, p: str) -> None:
        self.tracking = False
        self._ok()
