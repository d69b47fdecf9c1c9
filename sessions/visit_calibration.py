"""The calibration a visit carries.

At open: the records in force in `DATA_DIR/calibration/` when it opens, copied into the visit (journal `meta`, then
the file's `/calibration`), so the file says how its devices were calibrated without the store. A damaged store
refuses the visit in one line rather than copying what could be read (the record in force could be the damaged
one); the visit's pre-flight (issue 10) blocks on records missing or expired. A real visit never gets a simulated
record (the demo's plates, a `--simulate` run: not the devices of a trial visit); a simulated visit gets every
record in force, simulated or not (a rehearsal on the real devices sees their real calibration, one on the
simulators the simulators'). The per-visit kinds are never in force (`CalibrationStore.in_force`).

During the visit: the per-visit kinds (jaw-reference, emg-noise) measured on the patient, recorded by
`SessionManager.record_calibration`; `VisitCalibrations` keeps the visit's ids unique and links a retake to the
attempt it replaces (`supersedes`), per kind and device, as the store does for its own records.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from acquisition.events import CALIBRATION_RECORDED
from calibration.records import CalibrationRecord
from calibration.store import CalibrationStore, CalibrationStoreError
from sessions.session_errors import SessionError


class CalibrationUnavailable(SessionError):
    """The calibration store cannot be read: the visit is not opened (one line, exit 1)."""


@contextlib.contextmanager
def store_failures() -> Iterator[None]:
    """A store error inside becomes `CalibrationUnavailable` (the CLI's one line, exit 1)."""
    try:
        yield
    except CalibrationStoreError as exc:
        raise CalibrationUnavailable(f"{exc}; the visit is not opened (fix or restore the store first)") from None


def records_in_force(data_dir: Path, *, simulated: bool, at: _dt.datetime | None = None) -> list[dict[str, Any]]:
    """The records in force at `at` (default now) for a visit that is `simulated` or not (see the module
    docstring: a real visit gets no simulated record), as the JSON-able dicts `SessionManager.open` takes. A caller
    that learns whether the visit is simulated only later reads with `simulated=True` (the store is checked at once)
    and narrows with `for_visit` then."""
    with store_failures():
        records = [r.model_dump(mode="json") for r in CalibrationStore(data_dir).in_force(at=at)]
    return for_visit(records, simulated=simulated)


def for_visit(records: Sequence[Mapping[str, Any]], *, simulated: bool) -> list[dict[str, Any]]:
    """The `records` a visit that is `simulated` or not gets: a real one no simulated record."""
    return [dict(r) for r in records if simulated or not r.get("simulated", False)]


class VisitCalibrations:
    """The calibration records of one visit: the ones in force at open, then those recorded during it."""

    def __init__(self, key: str, at_open: Sequence[Mapping[str, Any]] = ()) -> None:
        self.key = key
        self._ids: set[str] = set()
        self._heads: dict[tuple[str, str], str] = {}  # (kind, device serial) -> id of the visit's newest record
        self._batches = 0  # calibrations recorded during the visit (journal batch numbers)
        for rec in at_open:
            if rec.get("id"):
                self._note(str(rec["id"]), (str(rec.get("kind", "")), str(rec.get("device_serial", ""))))

    def _note(self, record_id: str, key: tuple[str, str]) -> None:
        self._ids.add(record_id)
        self._heads[key] = record_id

    def link(self, record: CalibrationRecord) -> CalibrationRecord:
        """`record` as the visit keeps it: `supersedes` the visit's previous record of its kind and device (None for
        the first). SessionError (one line) for an id already in the visit, or a `supersedes` set to another one."""
        if record.id in self._ids:
            raise SessionError(f"calibration {record.id!r} is already in visit {self.key}")
        previous = self._heads.get(record.key)
        if record.supersedes is not None and record.supersedes != previous:
            raise SessionError(f"calibration {record.id!r} supersedes {record.supersedes!r}, but the previous "
                               f"{record.kind} record of {record.device_serial!r} in visit {self.key} is {previous!r}")
        return record if record.supersedes == previous else record.model_copy(update={"supersedes": previous})

    def record(self, record: CalibrationRecord, *, write: Callable[..., None],
               event: Callable[..., Any]) -> CalibrationRecord:
        """Link `record` (`link`), journal it as the next batch (`write(records, batch=)`: the visit journal's
        `write_calibration`), note it, and announce it with a `calibration.recorded` event (kind `qc`) so the
        compactor's ledger reports it lost if both journal copies are. Returns the record as the visit keeps it."""
        record = self.link(record)
        batch = self._batches + 1
        write([record.model_dump(mode="json")], batch=batch)
        self._batches = batch
        self.add(record)
        event("qc", CALIBRATION_RECORDED, payload={"batch": batch, "ids": [record.id], "kind": record.kind,
                                                    "device_serial": record.device_serial, "passed": record.passed})
        return record

    def add(self, record: CalibrationRecord) -> None:
        """`record` (as `link` returned it) is in the visit now: journalled."""
        self._note(record.id, record.key)
