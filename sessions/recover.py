"""Seal visits left open by a crash: rebuild each visit file from its journal, verify, seal.

The partially built HDF5 file of a crashed process is never trusted (h5py never fsyncs; a killed writer can leave
it unreadable): it is moved aside and the file is rebuilt from the journal, which keeps every record whose CRC
checks out. The file's state is `recovered` and the timeline gets a `visit.recovered` event.
"""

from __future__ import annotations

from pathlib import Path

from acquisition.clock import utc_iso
from acquisition.events import Event
from acquisition.journal import Journal, encode_event, encode_json
from acquisition.lslenv import local_clock
from acquisition.log import get_logger
from acquisition.visitfile.compactor import Compactor
from sessions.manager import SealedVisit, finalize
from sessions.visit_store import VisitStore


def recover_visit(store: VisitStore, key: str) -> SealedVisit:
    log = get_logger("recover", visit=key)
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
