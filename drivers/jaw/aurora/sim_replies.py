"""The tracking replies of the simulated Aurora, byte for byte: TX option 0001 (ASCII) and BX option 0001 (binary).

BX (NDI Combined API): header = start sequence 0xA5C4, reply length (body bytes), CRC-16 of those 4 bytes, all
u16 little-endian (so the wire starts C4 A5); body = handle count (u8), then per handle: handle (u8), handle
status (u8: 0x01 valid, 0x02 missing, 0x04 disabled), for a valid handle q0 qx qy qz tx ty tz error (float32
little-endian), then, unless disabled, port status (u32) and frame number (u32); then system status (u16); then
the CRC-16 of the body (u16). TX: see drivers/jaw/aurora/codec.py; BX: bx.py.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from drivers.jaw.aurora.bx import BX_DISABLED, BX_MISSING, BX_START, BX_VALID
from drivers.jaw.aurora.crc import crc16

PORT_OCCUPIED_INIT_ENABLED = 0x31
PORT_OUT_OF_VOLUME = 0x40


@dataclass
class SimTool:
    handle: int
    serial: str
    role: str
    initialized: bool = False
    enabled: bool = False
    missing: bool = False


@dataclass(frozen=True)
class ToolSample:
    """What one tool reports in one frame (pose in mm and unit quaternion, RMS error in mm)."""

    tool: SimTool
    q: np.ndarray
    t: np.ndarray
    err: float


def transform_text(q: np.ndarray, t: np.ndarray, err: float) -> str:
    qi = [max(-99999, min(99999, int(round(v * 1e4)))) for v in q]
    ti = [max(-999999, min(999999, int(round(v * 100)))) for v in t]
    return "".join(f"{v:+06d}" for v in qi) + "".join(f"{v:+07d}" for v in ti) + f"{int(round(err * 1e4)):+06d}"


def tx_text(samples: list[ToolSample], frame: int, system_status: int = 0) -> str:
    """The text of a TX 0001 reply (without CRC and CR)."""
    f = frame & 0xFFFFFFFF
    recs = []
    for s in samples:
        tool = s.tool
        if not tool.enabled:
            recs.append(f"{tool.handle:02X}DISABLED")
        elif tool.missing:
            recs.append(f"{tool.handle:02X}MISSING{PORT_OCCUPIED_INIT_ENABLED | PORT_OUT_OF_VOLUME:08X}{f:08X}")
        else:
            recs.append(f"{tool.handle:02X}{transform_text(s.q, s.t, s.err)}{PORT_OCCUPIED_INIT_ENABLED:08X}{f:08X}")
    return f"{len(recs):02X}" + "".join(r + "\n" for r in recs) + f"{system_status:04X}"


def bx_body(samples: list[ToolSample], frame: int, system_status: int = 0) -> bytes:
    """The body of a BX 0001 reply (between the header and the body CRC)."""
    f = frame & 0xFFFFFFFF
    out = bytearray(struct.pack("<B", len(samples)))
    for s in samples:
        tool = s.tool
        if not tool.enabled:
            out += struct.pack("<BB", tool.handle, BX_DISABLED)
        elif tool.missing:
            out += struct.pack("<BBII", tool.handle, BX_MISSING, PORT_OCCUPIED_INIT_ENABLED | PORT_OUT_OF_VOLUME, f)
        else:
            out += struct.pack("<BB8fII", tool.handle, BX_VALID, *(float(v) for v in s.q), *(float(v) for v in s.t),
                               float(s.err), PORT_OCCUPIED_INIT_ENABLED, f)
    out += struct.pack("<H", system_status)
    return bytes(out)


def bx_frame(body: bytes, *, body_crc_ok: bool = True) -> bytes:
    """Header (start, length, header CRC) + body + body CRC."""
    head = struct.pack("<HH", BX_START, len(body))
    crc = crc16(body) ^ (0 if body_crc_ok else 0x5A5A)
    return head + struct.pack("<H", crc16(head)) + body + struct.pack("<H", crc)
