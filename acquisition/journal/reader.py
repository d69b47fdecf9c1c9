"""Reading logs back: `scan_log` (everything, with a damage report) and `LogCursor` (tailing a live log).

Rules, for every segment:
- every intact record before a damage is accepted; a record whose header or CRC does not check out is NEVER
  accepted;
- after damage the reader resynchronises on the next MAGIC whose header and CRC check out, and goes on;
- the skipped bytes are a damage region (counted, logged as `journal.damage_found`);
- bytes at the end of a segment that are the valid beginning of a record (or all zero, as a power loss can leave)
  are a *torn tail* if the segment is final, and *pending* ("not yet written") if it is the newest segment of a
  log that may still be written. A segment is final once a newer segment exists, or when the caller says so
  (`final=True`: recovery after a crash, or the visit is closed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from acquisition.journal.framing import HEADER_BYTES, MAGIC, FrameStatus, check_frame
from acquisition.journal.layout import list_segments, segment_name
from acquisition.log import get_logger

_log = get_logger("journal")


@dataclass(frozen=True, slots=True)
class DamageRegion:
    """`length` bytes skipped at `offset` of segment file `segment`."""

    segment: str
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class SegmentReport:
    segment: str
    size: int
    records: int
    damage: tuple[DamageRegion, ...]
    torn_tail_bytes: int
    pending_bytes: int

    @property
    def bytes_skipped(self) -> int:
        return sum(d.length for d in self.damage)


@dataclass(frozen=True, slots=True)
class LogScan:
    """All intact records of a log, in order, and what was wrong with it."""

    records: list[bytes]
    segments: tuple[SegmentReport, ...]

    @property
    def damaged_regions(self) -> int:
        return sum(len(s.damage) for s in self.segments)

    @property
    def bytes_skipped(self) -> int:
        return sum(s.bytes_skipped for s in self.segments)

    @property
    def torn_tail_bytes(self) -> int:
        return sum(s.torn_tail_bytes for s in self.segments)

    @property
    def pending_bytes(self) -> int:
        return sum(s.pending_bytes for s in self.segments)

    @property
    def clean(self) -> bool:
        """No damage and no torn tail (pending bytes of a live log are not a fault)."""
        return self.damaged_regions == 0 and self.torn_tail_bytes == 0


@dataclass(slots=True)
class _Parsed:
    records: list[bytes] = field(default_factory=list)
    damage: list[tuple[int, int]] = field(default_factory=list)  # (offset, length) relative to the buffer
    end: int = 0  # bytes consumed (records, damage and torn tail); the rest is pending
    torn_tail: int = 0


def _next_valid(buf: bytes, start: int) -> int | None:
    """Offset of the next whole, CRC-valid record at or after `start`, or None."""
    q = buf.find(MAGIC, start)
    while q != -1:
        if check_frame(buf, q)[0] is FrameStatus.OK:
            return q
        q = buf.find(MAGIC, q + 1)
    return None


def _parse(buf: bytes, *, final: bool, max_records: int | None = None) -> _Parsed:
    out = _Parsed()
    pos, n = 0, len(buf)
    while pos < n:
        if max_records is not None and len(out.records) >= max_records:
            break
        status, plen = check_frame(buf, pos)
        if status is FrameStatus.OK:
            end = pos + HEADER_BYTES + plen
            out.records.append(buf[pos + HEADER_BYTES : end])
            pos = end
            continue
        if status is FrameStatus.INCOMPLETE and not final:
            # the record being written right now: wait for it. Do NOT look for a record further on, its
            # (partial) payload could hold bytes that look like a frame. A length corrupted so that it points
            # past the end is resolved once the segment is final (newer segment exists, or final=True).
            break
        q = _next_valid(buf, pos + 1)
        if q is not None:
            out.damage.append((pos, q - pos))
            pos = q
            continue
        # nothing valid after pos
        if not final:
            break  # maybe still being written: leave it pending
        rest = buf[pos:]
        if status is FrameStatus.INCOMPLETE or rest.count(0) == len(rest):
            out.torn_tail = n - pos
        else:
            out.damage.append((pos, n - pos))
        pos = n
    out.end = pos
    return out


def _report_damage(directory: Path, regions: list[DamageRegion]) -> None:
    for d in regions:
        _log.warning("journal.damage_found", log=str(directory), segment=d.segment, offset=d.offset, bytes=d.length)


def scan_log(directory: Path, *, final: bool = False) -> LogScan:
    """Read every intact record of the log in `directory`, across its segments, in order.

    With `final=False` (the log may still be written) an incomplete record at the end of the newest segment is
    reported as `pending_bytes`; with `final=True` (visit closed, or recovery after a crash) it is a torn tail.
    """
    directory = Path(directory)
    segs = list_segments(directory)
    records: list[bytes] = []
    reports: list[SegmentReport] = []
    for i, (_, path) in enumerate(segs):
        buf = path.read_bytes()
        seg_final = final or i < len(segs) - 1
        p = _parse(buf, final=seg_final)
        records.extend(p.records)
        damage = tuple(DamageRegion(path.name, off, ln) for off, ln in p.damage)
        _report_damage(directory, list(damage))
        if p.torn_tail:
            _log.info("journal.torn_tail", log=str(directory), segment=path.name, bytes=p.torn_tail)
        reports.append(
            SegmentReport(
                segment=path.name,
                size=len(buf),
                records=len(p.records),
                damage=damage,
                torn_tail_bytes=p.torn_tail,
                pending_bytes=len(buf) - p.end,
            )
        )
    return LogScan(records=records, segments=tuple(reports))


@dataclass(frozen=True, slots=True)
class CursorPosition:
    """Where a cursor stands: byte `offset` in segment number `segment`. Persist it to resume later."""

    segment: int = 0
    offset: int = 0


class LogCursor:
    """Incremental reader of a log that may still be written: each `read_new()` returns the records completed
    since the previous call, exactly once and in order. An incomplete record at the end of the newest segment is
    left for a later call; once a newer segment exists (or with `final=True`) it becomes a torn tail."""

    def __init__(self, directory: Path, *, start: CursorPosition | None = None) -> None:
        self.directory = Path(directory)
        start = start or CursorPosition()
        self._seg = start.segment
        self._off = start.offset
        self.damage: list[DamageRegion] = []
        self.torn_tail_bytes = 0
        self.records_read = 0

    @property
    def position(self) -> CursorPosition:
        return CursorPosition(self._seg, self._off)

    @property
    def bytes_skipped(self) -> int:
        return sum(d.length for d in self.damage)

    def counters(self) -> dict[str, int]:
        return {
            "records": self.records_read,
            "damaged_regions": len(self.damage),
            "bytes_skipped": self.bytes_skipped,
            "torn_tail_bytes": self.torn_tail_bytes,
        }

    def read_new(self, *, final: bool = False, max_records: int | None = None) -> list[bytes]:
        """Records completed since the last call. `final=True`: the writer is gone, the newest segment's
        incomplete tail is a torn tail. `max_records` bounds the size of one batch."""
        out: list[bytes] = []
        while True:
            # list BEFORE reading: if a newer segment exists now, the current one was complete before we read it
            segs = [i for i, _ in list_segments(self.directory)]
            later = [i for i in segs if i >= self._seg]
            if not later:
                return out
            if later[0] != self._seg:
                self._seg, self._off = later[0], 0
            newest = self._seg == segs[-1]
            seg_final = final or not newest
            path = self.directory / segment_name(self._seg)
            with open(path, "rb") as f:
                f.seek(self._off)
                buf = f.read()
            left = None if max_records is None else max_records - len(out)
            p = _parse(buf, final=seg_final, max_records=left)
            out.extend(p.records)
            self.records_read += len(p.records)
            regions = [DamageRegion(path.name, self._off + off, ln) for off, ln in p.damage]
            if regions:
                self.damage.extend(regions)
                _report_damage(self.directory, regions)
            if p.torn_tail:
                self.torn_tail_bytes += p.torn_tail
                _log.info("journal.torn_tail", log=str(self.directory), segment=path.name, bytes=p.torn_tail)
            self._off += p.end
            if max_records is not None and len(out) >= max_records:
                return out
            if seg_final and p.end == len(buf) and not newest:
                self._seg, self._off = self._seg + 1, 0
                continue
            return out

