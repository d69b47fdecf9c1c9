"""The simulator answers as the device does, through a real pyserial port on the pty."""

from __future__ import annotations

import time

import serial

from drivers.jaw.aurora.codec import error_code, parse_tx
from drivers.jaw.aurora.reply_reader import ReplyReader
from drivers.jaw.aurora.simulator import AuroraSimulator


class Host:
    def __init__(self, path: str) -> None:
        self.port = serial.Serial(path, 9600, timeout=0.05)
        self.reader = ReplyReader()

    def ask(self, cmd: bytes, timeout: float = 0.5) -> str | None:
        self.port.write(cmd)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            out = self.reader.feed(self.port.read(512))
            if out:
                return out[0]
        return None

    def brk(self) -> str | None:
        return self.ask(b"\x00")


def test_full_command_sequence(sim: AuroraSimulator) -> None:
    h = Host(sim.path)
    assert h.brk() == "RESET"
    assert h.ask(b"TSTART\r") == "ERROR10"  # system not initialised
    assert h.ask(b"INIT:E3A5\r") == "OKAY"  # colon form with CRC (ndicapi's probe bytes)
    assert h.ask(b"INIT:0000\r") == "ERROR04"  # bad command CRC
    assert h.ask(b"FOO\r") == "ERROR01"
    assert h.ask(b"COMM 50000\r") == "OKAY"
    assert h.ask(b"VER 4\r") is None  # host still at 9600: the device no longer understands it
    h.port.baudrate = 115200
    assert h.ask(b"VER 4\r") == sim.firmware
    assert "NDI S/N: " + sim.serial in (h.ask(b"VER 0\r") or "")
    assert h.ask(b"APIREV\r") == sim.api_revision
    assert h.ask(b"PHSR 02\r") == "020A0010B001"
    assert h.ask(b"PENA 0AD\r") == "ERROR0E"  # not initialised yet
    assert h.ask(b"PINIT 0A\r") == "OKAY" and h.ask(b"PINIT:0B" + b"%04X" % 0 + b"\r") == "ERROR04"
    assert h.ask(b"PINIT 0B\r") == "OKAY" and h.ask(b"PINIT 0C\r") == "ERROR08"
    assert h.ask(b"PENA 0AX\r") == "ERROR09"
    assert h.ask(b"PENA 0AD\r") == "OKAY" and h.ask(b"PENA 0BD\r") == "OKAY"
    assert h.ask(b"PHINF 0A0001\r", ).endswith("3C5A11B031")  # type: ignore[union-attr]
    assert h.ask(b"TX 0001\r") == "ERROR0C"  # not tracking
    assert h.ask(b"TSTART\r") == "OKAY"
    time.sleep(0.1)
    frames = []
    for _ in range(6):
        rep = parse_tx(h.ask(b"TX 0001\r") or "")
        assert [t.state for t in rep.tools] == ["ok", "ok"]
        frames.append(rep.frame)
        time.sleep(0.03)
    assert frames == sorted(frames) and frames[-1] - frames[0] >= 4  # the counter runs at ~40 Hz
    sim.set_missing("jaw", True)
    rep = parse_tx(h.ask(b"TX:0001" + b"%04X" % __import__("drivers.jaw.aurora.crc", fromlist=["crc16"]).crc16(b"TX:0001") + b"\r") or "")
    assert rep.tools[1].state == "missing" and rep.tools[1].port_status is not None and rep.tools[1].port_status & 0x40
    assert h.ask(b"TSTOP\r") == "OKAY"
    assert error_code(h.ask(b"TX 0001\r") or "") == 0x0C
    assert h.brk() is None  # host at 115200, device answers RESET at 9600 -> noise
    h.port.baudrate = 9600
    assert h.brk() == "RESET"
    h.port.close()
