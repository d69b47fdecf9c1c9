"""Journal -> HDF5, incrementally: the background compactor of an open visit, and the rebuild of a crashed one.

The journal of a visit has these logs:
- `meta`: JSON records `{"type": "visit", "attrs": {...}}` (root attributes, first), `{"type": "stream",
  "spec": {...}}` (before that stream's first chunk), `{"type": "calibration", "records": [...]}`,
  `{"type": "counters", "sources": {...}}` (source QC counters, periodically), `{"type": "outcomes", "rows": [...]}`,
  `{"type": "close", "closed_utc": ...}`.
- `events`: `Event` records.
- `streams/<name>`: `Chunk` records.
- `scans`: scan records (`scan_record`).

The compactor owns the `VisitFileWriter` and is the only thread touching the HDF5 file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from acquisition.journal import LogCursor, decode_chunk, decode_event, decode_json
from acquisition.log import get_logger
from acquisition.stream import StreamSpec
from acquisition.visitfile.scan_record import decode_scan
from acquisition.visitfile.writer import VisitFileWriter

_MAX_RECORDS_PER_PASS = 2000
_HDF5_FLUSH_BYTES = 4 * 1024 * 1024  # dirty sample bytes in HDF5's chunk cache before a background flush


class Compactor:
    """Reads new journal records and appends them to the visit file being built."""

    def __init__(self, journal_dir: Path, partial: Path, *, writer_options: dict[str, Any] | None = None) -> None:
        self.journal_dir = Path(journal_dir)
        self.partial = Path(partial)
        self._writer_options = writer_options or {}
        self.writer: VisitFileWriter | None = None
        self._meta = LogCursor(self.journal_dir / "meta")
        self._events = LogCursor(self.journal_dir / "events")
        self._scans = LogCursor(self.journal_dir / "scans")
        self._streams: dict[str, LogCursor] = {}
        self._pending_meta: list[dict[str, Any]] = []
        self.visit_attrs: dict[str, Any] = {}
        self.calibration: list[dict[str, Any]] = []
        self.counters: dict[str, Any] = {}
        self.outcomes: list[list[Any]] = []
        self.closed_utc: str | None = None
        self.specs: dict[str, StreamSpec] = {}
        self.damage: dict[str, int] = {}
        self._log = get_logger("compactor", journal=str(self.journal_dir))

    # -- one pass ------------------------------------------------------------------------------
    def run_once(self, *, final: bool = False) -> int:
        """Move every new record (all of them if `final`) into the file. Returns the number of records moved."""
        moved = 0
        for payload in self._meta.read_new(final=final):
            self._on_meta(decode_json(payload))  # type: ignore[arg-type]
            moved += 1
        if self.writer is None:
            if final:
                raise RuntimeError(f"journal {self.journal_dir} has no visit record: nothing to build")
            return moved
        while True:
            n = 0
            for name, cursor in self._streams.items():
                recs = cursor.read_new(final=final, max_records=_MAX_RECORDS_PER_PASS)
                for payload in recs:
                    self.writer.append(decode_chunk(payload))
                n += len(recs)
            moved += n
            if not final or n == 0:
                break
        evs = [decode_event(p) for p in self._events.read_new(final=final)]
        self.writer.add_events(evs)
        moved += len(evs)
        for payload in self._scans.read_new(final=final):
            scan_id, arrays, attrs = decode_scan(payload)
            self.writer.add_scan(scan_id, arrays, attrs)
            moved += 1
        # pending rows go into the datasets every pass (bounded memory). HDF5's own flush compresses every dirty
        # chunk and rewrites the partly filled ones, so it runs once enough is dirty (keeping the work left for
        # close small) rather than every pass; nothing reads the partial file while the visit is open.
        self.writer.flush(hdf5=final or self.writer.unflushed_bytes >= _HDF5_FLUSH_BYTES)
        return moved

    def _on_meta(self, rec: dict[str, Any]) -> None:
        kind = rec.get("type")
        if kind == "visit":
            if self.writer is None:
                self.visit_attrs = dict(rec["attrs"])
                self.writer = VisitFileWriter(self.partial, self.visit_attrs, **self._writer_options)
        elif kind == "stream":
            spec = StreamSpec.model_validate(rec["spec"])
            self.specs[spec.name] = spec
            if self.writer is None:
                raise RuntimeError("stream declared before the visit record")
            self.writer.add_stream(spec)
            self._streams.setdefault(spec.name, LogCursor(self.journal_dir / "streams" / spec.name))
        elif kind == "calibration":
            self.calibration.extend(rec.get("records", []))
        elif kind == "counters":
            self.counters = dict(rec.get("sources", {}))
        elif kind == "outcomes":
            self.outcomes = list(rec.get("rows", []))
        elif kind == "close":
            self.closed_utc = rec.get("closed_utc")

    def damage_report(self) -> dict[str, int]:
        """Bytes skipped over damaged journal records, per log (0 everywhere on a healthy journal)."""
        out = {"meta": self._meta.bytes_skipped, "events": self._events.bytes_skipped,
               "scans": self._scans.bytes_skipped}
        out.update({f"streams/{k}": c.bytes_skipped for k, c in self._streams.items()})
        return out

    def qc_summary(self) -> dict[str, Any]:
        """Expected vs received samples and gaps per stream, source counters, journal damage."""
        assert self.writer is not None
        streams: dict[str, Any] = {}
        for name, tally in self.writer.tallies.items():
            spec = self.specs[name]
            expected_seq = (tally.last_seq - tally.first_seq + 1) if tally.first_seq is not None else 0
            expected_time = 0
            if spec.nominal_rate > 0 and tally.first_t is not None and tally.last_t is not None:
                expected_time = int(round((tally.last_t - tally.first_t) * spec.nominal_rate)) + 1
            streams[name] = {
                "received": tally.n,
                "expected_by_seq": expected_seq,
                "missing_by_seq": tally.missing,
                "gaps": len(tally.gaps),
                "out_of_order": tally.backwards,
                "expected_by_time": expected_time,
                "duration_s": (tally.last_t - tally.first_t) if tally.n > 1 else 0.0,  # type: ignore[operator]
                "nominal_rate": spec.nominal_rate,
            }
        return {"streams": streams, "sources": self.counters, "journal_damage_bytes": self.damage_report()}

    def finish(self, closing_attrs: dict[str, Any]) -> None:
        assert self.writer is not None
        self.writer.write_calibration(self.calibration)
        self.writer.write_outcomes([tuple(r) for r in self.outcomes])  # type: ignore[misc]
        self.writer.write_qc(self.qc_summary())
        attrs = dict(closing_attrs)
        # a file records whether ANY simulated source fed it, whatever the visit was opened as
        attrs["simulated"] = bool(self.visit_attrs.get("simulated")) or any(
            s.device.simulated for s in self.specs.values()
        )
        self.writer.finish(attrs)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
