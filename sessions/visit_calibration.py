"""The calibration a visit carries: the records in force in `DATA_DIR/calibration/` when it opens, copied into the
visit (journal `meta`, then the file's `/calibration`), so the file says how its devices were calibrated without the
store. A damaged store refuses the visit in one line rather than copying what could be read (the record in force
could be the damaged one); the visit's pre-flight (issue 10) blocks on records missing or expired."""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def records_in_force(data_dir: Path, *, at: _dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every record in force at `at` (default now), as the JSON-able dicts `SessionManager.open` takes."""
    with store_failures():
        return [r.model_dump(mode="json") for r in CalibrationStore(data_dir).in_force(at=at)]
