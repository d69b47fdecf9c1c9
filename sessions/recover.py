"""Seal visits left open by a crash: rebuild each visit file from its journal, verify, seal.

The partially built HDF5 file of a crashed process is never trusted (h5py never fsyncs; a killed writer can leave
it unreadable): it is moved aside and the file is rebuilt from the journal, which keeps every record whose CRC
checks out. The file's state is `recovered` and the timeline gets a `visit.recovered` event.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py

from acquisition.clock import utc_iso
from acquisition.events import Event
from acquisition.journal import Journal, encode_event, encode_json
from acquisition.lslenv import local_clock
from acquisition.log import get_logger
from acquisition.visitfile.compactor import Compactor
from acquisition.visitfile.manifest import MANIFEST_NAME, append_manifest, read_manifest, sha256_file
from acquisition.visitfile.seal import SealError
from acquisition.visitfile.verify import verify_file
from sessions.manager import SealedVisit, finalize
from sessions.visit_store import VisitStore


def _finish_interrupted_seal(store: VisitStore, key: str) -> SealedVisit:
    """The file was sealed into place but the process ended before the manifest line or the journal archive."""
    final = store.final_path(key)
    report = verify_file(final)
    if not report.ok:
        raise SealError(f"{final} exists but fails verification ({'; '.join(report.problems)}); "
                        f"the journal is kept in {store.open_dir(key)}")
    digest = sha256_file(final)
    listed = read_manifest(store.data_dir).get(final.name)
    if listed is None:
        append_manifest(store.data_dir, final, digest)
    elif listed != digest:
        raise SealError(f"{final} differs from its {MANIFEST_NAME} line; the journal is kept in {store.open_dir(key)}")
    with h5py.File(final, "r") as f:
        qc = {k: json.loads(v) for k, v in f["qc"].attrs.items()}
    archive = store.archive(key)
    return SealedVisit(path=final, sha256=digest, report=report, qc=qc, journal_archive=archive)


def recover_visit(store: VisitStore, key: str) -> SealedVisit:
    log = get_logger("recover", visit=key)
    if store.final_path(key).exists():
        sealed = _finish_interrupted_seal(store, key)
        log.info("visit.seal_completed", path=str(sealed.path))
        return sealed
    partial = store.partial_path(key)
    if partial.exists():
        aside = partial.with_name(partial.name + f".crashed-{utc_iso().replace(':', '')}")
        partial.rename(aside)
        log.info("partial.moved_aside", path=str(aside))
    jdir = store.journal_dir(key)
    # the journal opens on a new segment: nothing is appended after a possibly torn tail
    with Journal(jdir) as journal:
        ev = Event(t_lsl=local_clock(), utc=utc_iso(), kind="operator", name="visit.recovered",
                   payload={"reason": "visit left open (process ended before sealing)"})
        journal.log("events").append(encode_event(ev))
        journal.log("meta").append(encode_json({"type": "recovered", "utc": ev.utc}))
    compactor = Compactor(jdir, partial)
    compactor.run_once(final=True)
    closed = compactor.closed_utc or utc_iso()
    compactor.finish({"closed_utc": closed, "state": "recovered"})
    sealed = finalize(store, key, compactor)
    log.info("visit.recovered", path=str(sealed.path), damage=compactor.damage_report())
    return sealed


def recover_all(data_dir: Path) -> list[SealedVisit]:
    store = VisitStore(data_dir)
    return [recover_visit(store, key) for key in store.open_keys()]
