"""Build the journal of a crashed visit in a few milliseconds, with the writers the session manager uses, and
damage single records of it (bit flips at a record's payload)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acquisition.chunk import Chunk
from acquisition.events import Event
from acquisition.journal import Journal, encode_chunk, encode_event
from acquisition.journal.framing import HEADER, HEADER_BYTES
from acquisition.journal.layout import list_segments
from acquisition.journal.records import VisitAttrs, journal_stream, journal_visit
from acquisition.stream import DeviceIdentity, StreamSpec

T0 = 1000.0
STARTED = "2026-01-05T09:00:00.000000Z"
LAST_EVENT = "2026-01-05T09:00:01.250000Z"  # the samples outlast it, as they do a crashed visit's last clock.pair
#: UTC of the default journal's last sample (emg's 3000th at 1000 Hz, T0 + 2.999 s, through the pair at T0)
LAST_SAMPLE = "2026-01-05T09:00:02.999000Z"
CALIBRATION = [{"id": "tare_plate", "device_serial": "P-1", "offset": [1.5, float("nan")]},
               {"id": "emg_noise", "device_serial": "E-1", "rms_uv": 2.0}]


def spec(name: str, channels: int, rate: float, transport: str = "unknown") -> StreamSpec:
    return StreamSpec(
        name=name, kind="other", channels=tuple(f"c{i}" for i in range(channels)), units=("u",) * channels,
        dtype="int32", nominal_rate=rate,
        device=DeviceIdentity(model="ramp", serial=f"R-{name}", simulated=True, transport=transport),
    )


def ramp(name: str, c: int, start: int, n: int, rate: float) -> Chunk:
    seq = np.arange(start, start + n, dtype=np.int64)
    data = ((seq[:, None] * c + np.arange(c)) % 2**31).astype(np.int32)
    return Chunk(stream=name, data=data, device_seq=seq, t_lsl=T0 + seq / rate)


def expected_data(seq: np.ndarray, c: int) -> np.ndarray:
    return ((seq[:, None] * c + np.arange(c)) % 2**31).astype(np.int32)


def attrs(subject: str = "ABC-001", visit: str = "D0") -> VisitAttrs:
    return VisitAttrs(subject=subject, visit=visit, site="SIM", operator="tech1", started_utc=STARTED,
                      software_version="test", simulated=True, config="{}", boot_id="b", started_t_lsl=T0)


def write_journal(jdir: Path, *, subject: str = "ABC-001", visit: str = "D0",
                  streams: dict[str, tuple[int, float, int]] | None = None,
                  calibration: list[dict] | None = None, chunk: int = 500,
                  transports: dict[str, str] | None = None) -> None:
    """A visit killed after recording: visit record, calibration, streams (name -> channels, rate, samples) in
    chunks of `chunk` (`transports`: a stream's `device.transport`, default 'unknown', i.e. a local clock), events (the last at
    `LAST_EVENT`, before the last samples), no close record."""
    streams = {"emg": (3, 1000.0, 3000), "jaw": (2, 100.0, 300)} if streams is None else streams
    with Journal(jdir) as j:
        journal_visit(j, attrs(subject, visit), CALIBRATION if calibration is None else calibration)
        ev = j.log("events")
        ev.append(encode_event(Event(t_lsl=T0, utc=STARTED, kind="visit_open", name="visit.opened")))
        ev.append(encode_event(Event(t_lsl=T0, utc=STARTED, kind="clock", name="clock.pair",
                                     payload={"t_lsl": T0, "utc": STARTED})))
        for name, (c, rate, n) in streams.items():
            journal_stream(j, spec(name, c, rate, (transports or {}).get(name, "unknown")))
        for name, (c, rate, n) in streams.items():
            log = j.log(f"streams/{name}")
            for start in range(0, n, chunk):
                log.append(encode_chunk(ramp(name, c, start, min(chunk, n - start), rate)))
        ev.append(encode_event(Event(t_lsl=T0 + 1.25, utc=LAST_EVENT, kind="marker", name="marker.last")))


def record_offsets(log_dir: Path) -> list[tuple[Path, int, int]]:
    """(segment, payload offset, payload length) of every record of a log, in order."""
    out = []
    for _, seg in list_segments(log_dir):
        buf = seg.read_bytes()
        pos = 0
        while pos + HEADER_BYTES <= len(buf):
            _, n, _ = HEADER.unpack_from(buf, pos)
            out.append((seg, pos + HEADER_BYTES, n))
            pos += HEADER_BYTES + n
    return out


def flip(log_dir: Path, index: int, at: int = 7) -> None:
    """Flip one bit in the payload of record `index` of the log (its CRC no longer checks out)."""
    seg, off, n = record_offsets(log_dir)[index]
    b = bytearray(seg.read_bytes())
    b[off + min(at, n - 1)] ^= 0x10
    seg.write_bytes(bytes(b))
