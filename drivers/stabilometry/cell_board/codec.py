"""Wire protocol of the AMUSE-CB4 four-load-cell board (our design; see docs/devices.md).

Device -> host, every message framed:

    A5 5A | type u8 | body | CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection) over type+body, LE

- type 0x01 SAMPLE: body = counter u16 LE + 4 x int24 LE (cells TR BR TL BL, raw ADC counts) -> 19 bytes total
- type 0x02 REPLY:  body = length u8 + ASCII text (1..200 bytes)

Host -> device: ASCII command lines ending in "\\n": `ID?`, `CAL?`, `RATE <hz>`, `START`, `STOP`, `TARE`.
Replies: `ID <model>;<serial>;<firmware>`, `CAL <o1>,<o2>,<o3>,<o4>;<s1>,<s2>,<s3>,<s4>` (offsets in counts,
scales in kg per count), `OK <COMMAND> [...]`, `ERR <reason>`.

`FrameDecoder` is a resynchronising stream decoder: a bad CRC, a cut frame, an unknown type or stray bytes
are counted (`crc_errors`, `bad_frames`, `truncated`, `bytes_skipped`) and skipped; it never raises on input
bytes. Accounting is exact at every call: bytes_in = bytes_decoded + bytes_skipped + `pending_bytes`, and every
sync pattern taken as a frame start is a frame or reply out or one of crc_errors, bad_frames, truncated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

SYNC = b"\xa5\x5a"
T_SAMPLE = 0x01
T_REPLY = 0x02
SAMPLE_BODY = 2 + 4 * 3
SAMPLE_FRAME_LEN = 2 + 1 + SAMPLE_BODY + 2  # 19
MAX_REPLY = 200
INT24_MIN, INT24_MAX = -(1 << 23), (1 << 23) - 1


def crc16_ccitt_false(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor (check('123456789') = 0x29B1)."""
    for b in bytes(data):
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


_TABLE = [crc16_ccitt_false(bytes([i]), 0) for i in range(256)]


def crc16(data: bytes | bytearray | memoryview) -> int:
    """Table-driven CRC-16/CCITT-FALSE (same result as `crc16_ccitt_false`)."""
    crc = 0xFFFF
    for b in bytes(data):
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


class SampleFrame(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    counter: int = Field(ge=0, le=0xFFFF)
    cells: tuple[int, int, int, int]


class ReplyFrame(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_REPLY)


def _frame(type_: int, body: bytes) -> bytes:
    payload = bytes([type_]) + body
    return SYNC + payload + crc16(payload).to_bytes(2, "little")


def encode_sample(counter: int, cells: tuple[int, int, int, int] | np.ndarray) -> bytes:
    body = bytearray((int(counter) & 0xFFFF).to_bytes(2, "little"))
    for c in cells:
        c = int(c)
        if not INT24_MIN <= c <= INT24_MAX:
            raise ValueError(f"cell value {c} does not fit in int24")
        body += (c & 0xFFFFFF).to_bytes(3, "little")
    return _frame(T_SAMPLE, bytes(body))


def encode_reply(text: str) -> bytes:
    raw = text.encode("ascii")
    if not 1 <= len(raw) <= MAX_REPLY:
        raise ValueError(f"reply must be 1..{MAX_REPLY} ASCII bytes")
    return _frame(T_REPLY, bytes([len(raw)]) + raw)


def _int24(b: bytes | bytearray, i: int) -> int:
    v = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)
    return v - (1 << 24) if v & 0x800000 else v


@dataclass
class DecoderStats:
    frames: int = 0
    replies: int = 0
    crc_errors: int = 0
    bad_frames: int = 0  # unknown type / bad length / undecodable reply
    truncated: int = 0  # a frame cut by the end of the input (flush, reset): its sync bytes skipped
    bytes_skipped: int = 0
    bytes_in: int = 0
    bytes_decoded: int = 0  # bytes of the frames and replies returned


class FrameDecoder:
    """Bytes in, `SampleFrame` / `ReplyFrame` out, in arrival order; errors counted in `stats`."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.stats = DecoderStats()

    @property
    def pending_bytes(self) -> int:
        """Bytes fed but not yet decoded or counted (a frame still arriving)."""
        return len(self._buf)

    def flush(self) -> list[SampleFrame | ReplyFrame]:
        """The input has ended: decode what can be and count the rest, nothing stays pending. Why not just wait:
        a reply header cut after its length byte would hold every frame behind it until 200 bytes came."""
        return self.feed(b"", final=True)

    def reset(self) -> list[SampleFrame | ReplyFrame]:
        """End of this input (a new port after a replug): `flush`, so the old bytes are decoded or counted."""
        return self.flush()

    def feed(self, data: bytes, *, final: bool = False) -> list[SampleFrame | ReplyFrame]:
        buf = self._buf
        buf.extend(data)
        out: list[SampleFrame | ReplyFrame] = []
        st = self.stats
        st.bytes_in += len(data)
        i = 0
        n = len(buf)
        while True:
            j = buf.find(SYNC, i)
            if j < 0:
                # keep a trailing 0xA5 that may be the first half of a sync
                keep = 1 if not final and n > i and buf[n - 1] == SYNC[0] else 0
                st.bytes_skipped += n - i - keep
                i = n - keep
                break
            st.bytes_skipped += j - i
            i = j
            flen = 0
            if n - i >= 3:
                t = buf[i + 2]
                if t == T_SAMPLE:
                    flen = SAMPLE_FRAME_LEN
                elif t == T_REPLY:
                    if n - i >= 4:
                        ln = buf[i + 3]
                        if not 1 <= ln <= MAX_REPLY:
                            st.bad_frames += 1
                            st.bytes_skipped += 2
                            i += 2
                            continue
                        flen = 2 + 1 + 1 + ln + 2
                else:
                    st.bad_frames += 1
                    st.bytes_skipped += 2
                    i += 2
                    continue
            if flen == 0 or n - i < flen:
                if not final:
                    break  # the frame is still arriving
                st.truncated += 1  # cut by the end of the input: look for frames inside what came
                st.bytes_skipped += 2
                i += 2
                continue
            payload = bytes(buf[i + 2: i + flen - 2])
            crc = buf[i + flen - 2] | (buf[i + flen - 1] << 8)
            if crc16(payload) != crc:
                st.crc_errors += 1
                st.bytes_skipped += 2
                i += 2  # resync: look for the next sync inside this candidate
                continue
            if t == T_SAMPLE:
                counter = payload[1] | (payload[2] << 8)
                cells = tuple(_int24(payload, 3 + 3 * k) for k in range(4))
                out.append(SampleFrame(counter=counter, cells=cells))  # type: ignore[arg-type]
                st.frames += 1
                st.bytes_decoded += flen
            else:
                try:
                    out.append(ReplyFrame(text=payload[2:].decode("ascii")))
                    st.replies += 1
                    st.bytes_decoded += flen
                except (UnicodeDecodeError, ValueError):
                    st.bad_frames += 1  # a whole frame (its CRC holds) with no reply text in it
                    st.bytes_skipped += flen
            i += flen
        del buf[:i]
        return out
