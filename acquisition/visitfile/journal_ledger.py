"""What the compactor found in a visit's journal, where it found it, and what it could not use.

Why: the journal reader never accepts a damaged record, so damage shows up as *absence*. A missing stream
description or calibration record is invisible in the file unless someone keeps the books: which copy of each
needed record was found (`meta`, `events`, `streams/<name>`), which records were rejected (unknown type,
malformed), which streams had to be kept under a placeholder description. `report()` is the `journal_damage`
entry of the visit's QC: `ok` is false on any damage, and the file says so rather than looking complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acquisition.log import get_logger

_MAX_PROBLEMS = 50  # problem lines kept in the QC (every rejected record is still counted)


class JournalLedger:
    def __init__(self, journal: str) -> None:
        self.visit_in: list[str] = []
        self.calibration_in: dict[int, list[str]] = {}  # batch -> logs it was read from
        self.calibration_expected = 0  # records in force at open (batch 0), from the visit record
        self.calibration_announced: dict[int, int] = {}  # batch >= 1 -> records, from `calibration.recorded`
        self.streams_in: dict[str, list[str]] = {}
        self.placeholders: dict[str, int] = {}  # stream -> samples kept under a placeholder description
        self.rejected: dict[str, int] = {}  # log -> records rejected
        self.samples_rejected: dict[str, int] = {}  # stream -> samples of rejected chunks
        self.problems: list[str] = []
        self.audit_next = 0  # the next seq expected of the visit's audit chain (`audit` log)
        self.audit_lost: list[tuple[int, int]] = []  # (first, last) seq of each run of audit entries lost
        self._log = get_logger("compactor", journal=journal)

    def found(self, what: str, log: str, stream: str = "", *, batch: int = 0) -> None:
        """A copy of a needed record (`visit`, `calibration` of `batch`, `stream`) was read from `log`."""
        if what == "visit":
            self.visit_in.append(log)
        elif what == "calibration":
            self.calibration_in.setdefault(batch, []).append(log)
        elif what == "stream":
            self.streams_in.setdefault(stream, []).append(log)

    def reject(self, log: str, reason: str, *, stream: str = "", samples: int = 0) -> None:
        """A CRC-valid record that cannot be used: counted, logged and kept in the report."""
        self.rejected[log] = self.rejected.get(log, 0) + 1
        if stream and samples:
            self.samples_rejected[stream] = self.samples_rejected.get(stream, 0) + samples
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(f"{log}: {reason}")
        self._log.error("journal.record_rejected", log=log, reason=reason)

    def announced(self, batch: int, records: int) -> None:
        """A `calibration.recorded` event says calibration `batch` (taken during the visit) holds `records`."""
        self.calibration_announced[batch] = records

    def audit_entry(self, seq: int) -> bool:
        """Audit entry `seq` was read: False (rejected, counted) if it repeats or goes back; a seq skipped since
        the previous entry is lost (the journal records lost there held them)."""
        if seq < self.audit_next:
            self.reject("audit", f"audit entry seq {seq} comes after seq {self.audit_next - 1}; the first is kept")
            return False
        if seq > self.audit_next:
            self.audit_lost.append((self.audit_next, seq - 1))
        self.audit_next = seq + 1
        return True

    def placeholder(self, stream: str, samples: int) -> None:
        self.placeholders[stream] = self.placeholders.get(stream, 0) + samples

    def lost_and_repaired(self) -> tuple[list[str], list[str]]:
        lost: list[str] = []
        repaired: list[str] = []
        if self.visit_in and "meta" not in self.visit_in:
            repaired.append(f"visit record: lost in meta, taken from its copy in {self.visit_in[0]}")
        if self.calibration_expected:
            where = self.calibration_in.get(0, [])
            if not where:
                lost.append(f"calibration: {self.calibration_expected} record(s) in force, the calibration record "
                            "was lost in meta and in meta-copy (/calibration is incomplete)")
            elif "meta" not in where:
                repaired.append(f"calibration record: lost in meta, taken from its copy in {where[0]}")
        for batch, n in sorted(self.calibration_announced.items()):
            where = self.calibration_in.get(batch, [])
            if not where:
                lost.append(f"calibration {batch} (taken during the visit): {n} record(s), lost in meta and in "
                            "meta-copy (/calibration is incomplete)")
            elif "meta" not in where:
                repaired.append(f"calibration {batch} (taken during the visit): lost in meta, taken from its copy "
                                f"in {where[0]}")
        for name, where in sorted(self.streams_in.items()):
            if "meta" not in where:
                repaired.append(f"streams/{name} description: lost in meta, taken from its copy in {where[0]}")
            elif f"streams/{name}" not in where:
                repaired.append(f"streams/{name} description: lost at the head of its log, taken from meta")
        for name, n in sorted(self.placeholders.items()):
            lost.append(f"streams/{name} description: lost in meta and in its log; {n} samples kept under a "
                        "placeholder description (channel names, units and scale unknown)")
        for name, n in sorted(self.samples_rejected.items()):
            lost.append(f"streams/{name}: {n} samples in rejected chunks")
        for first, last in self.audit_lost:
            lost.append(f"audit: entries seq {first}..{last} lost in the journal (/audit lacks them; their twins are "
                        "in the daily log DATA_DIR/audit/)")
        return lost, repaired

    def report(self, bytes_skipped: Mapping[str, int], regions: Mapping[str, int]) -> dict[str, Any]:
        """The `journal_damage` QC entry. `bytes_skipped`/`regions`: damaged bytes and regions per log."""
        lost, repaired = self.lost_and_repaired()
        for log, n in sorted(bytes_skipped.items()):
            if n:
                lost.append(f"{log}: {n} bytes in {regions.get(log, 0)} damaged region(s) skipped "
                            "(the records there are lost)")
        damaged = {k: v for k, v in sorted(bytes_skipped.items()) if v}
        ok = not damaged and not lost and not repaired and not self.rejected
        return {
            "ok": ok,
            "bytes_skipped": damaged,
            "lost_records": lost,
            "repaired": repaired,
            "rejected_records": dict(sorted(self.rejected.items())),
            "problems": list(self.problems),
        }


def damage_items(entry: Mapping[str, Any]) -> list[str]:
    """What a `journal_damage` QC entry says was lost or repaired, one item each (for the one-line reports of
    `recover` and `verify`); [] for an entry whose `ok` is true."""
    if entry.get("ok") is True:
        return []
    items = [str(x) for key in ("lost_records", "repaired") for x in (entry.get(key) or [])]
    rejected = entry.get("rejected_records") or {}
    n = sum(v for v in rejected.values() if isinstance(v, int)) if isinstance(rejected, Mapping) else 0
    if n:
        items.append(f"{n} record(s) rejected (unknown or malformed)")
    return items or ["the QC entry says the journal was damaged (no detail recorded)"]
