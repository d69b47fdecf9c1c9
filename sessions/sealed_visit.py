"""The last step of a visit, shared by the session's close and by `recover`: verify, seal, archive the journal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acquisition.visitfile.compactor import Compactor
from acquisition.visitfile.seal import seal_file
from acquisition.visitfile.verify import VerifyReport
from sessions.visit_store import VisitStore

__all__ = ["SealedVisit", "finalize"]


@dataclass
class SealedVisit:
    path: Path
    sha256: str
    report: VerifyReport
    qc: dict[str, Any]
    journal_archive: Path


def finalize(store: VisitStore, key: str, compactor: Compactor) -> SealedVisit:
    """Verify the finished partial file against the journal tallies, seal it, archive the journal."""
    tallies, n_events = compactor.seal_expectations()
    digest, report = seal_file(
        store.partial_path(key), store.final_path(key), data_dir=store.data_dir,
        expected=tallies, expected_events=n_events,
    )
    qc = compactor.qc_summary()
    archive = store.archive(key)
    return SealedVisit(path=store.final_path(key), sha256=digest, report=report, qc=qc, journal_archive=archive)
