"""Small data directories for the visit list and window tests: real sealed files (the writer and the seal, no
session, a few ms each), open, crashed, abandoned and unrecoverable visits laid out as `sessions/` leaves them."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import IO

import numpy as np

from acquisition.chunk import Chunk
from acquisition.journal.records import VisitAttrs, VisitRecord, encode_meta
from acquisition.journal.writer import Journal
from acquisition.stream import DeviceIdentity, StreamSpec
from acquisition.visitfile.seal import seal_file
from acquisition.visitfile.writer import VisitFileWriter

_SPEC = StreamSpec(name="ramp", kind="other", channels=("c0",), units=("u",), dtype="int32", nominal_rate=10.0,
                   device=DeviceIdentity(model="ramp", serial="R-1", simulated=True))


def sealed(data_dir: Path, subject: str, visit: str, started_utc: str, *, replay_of: str | None = None,
           qc_ok: bool = True, state: str = "sealed") -> Path:
    """Write and seal `<subject>_<visit>.h5` (manifests included) started at `started_utc`; its path.
    `replay_of`: the file name it replays (a replay); `qc_ok=False`: its journal_damage QC failed."""
    data_dir.mkdir(parents=True, exist_ok=True)
    key = f"{subject}_{visit}"
    partial = data_dir / f"{key}.h5.partial"
    attrs: dict[str, object] = {
        "software_version": "test", "site": "SIM", "subject": subject, "visit": visit, "operator": "tech1",
        "started_utc": started_utc, "closed_utc": "", "state": "recording", "simulated": True,
        "config": "{}", "boot_id": "b", "started_t_lsl": 1.0}
    if replay_of is not None:
        attrs["replay_of"] = json.dumps({"file": replay_of, "sha256": "ab" * 32})
    w = VisitFileWriter(partial, attrs)
    w.add_stream(_SPEC)
    w.append(Chunk.build("ramp", np.arange(20, dtype=np.int32).reshape(20, 1), np.arange(20),
                         1.0 + np.arange(20) / 10.0))
    damage = {"ok": qc_ok, "lost_records": [] if qc_ok else ["events: 3 records lost"]}
    w.write_qc({"journal_damage": damage})
    w.finish({"closed_utc": started_utc, "state": state})
    final = data_dir / f"{key}.h5"
    seal_file(partial, final, data_dir=data_dir, expected=w.tallies, expected_events=w.n_events)
    return final


def open_visit(data_dir: Path, subject: str, visit: str, started_utc: str, *, hold: bool = False,
               record: bool = True) -> IO[bytes] | None:
    """Lay out `.open/<key>/` with a journal holding the visit record (`record`) and a `visit.lock` naming this
    process. `hold`: keep the lock held (a visit being recorded) and return its file, to close to release it."""
    key = f"{subject}_{visit}"
    folder = data_dir / ".open" / key
    folder.mkdir(parents=True)
    if record:
        attrs = VisitAttrs(subject=subject, visit=visit, site="SIM", operator="tech1", started_utc=started_utc,
                           software_version="test", simulated=True)
        j = Journal(folder / "journal", fsync_interval_s=1.0)
        j.log("meta").append(encode_meta(VisitRecord(attrs=attrs)))
        j.close()
    lock = folder / "visit.lock"
    fh = open(lock, "a+b")  # noqa: SIM115 - returned to the caller when held
    fh.write(json.dumps({"pid": os.getpid(), "command": "amuse-acq demo", "since": started_utc}).encode() + b"\n")
    fh.flush()
    if hold:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fh
    fh.close()
    return None


def abandoned(data_dir: Path, subject: str, visit: str, started_utc: str, stamp: str = "20260301T101500.000000Z"
              ) -> Path:
    key = f"{subject}_{visit}"
    folder = data_dir / ".abandoned" / f"{key}.{stamp}"
    folder.mkdir(parents=True)
    rec = {"key": key, "subject": subject, "visit": visit, "operator": "tech2", "os_user": "u", "reason": "wrong rig",
           "abandoned_utc": "2026-03-01T10:15:00.000000Z", "moved_from": f".open/{key}",
           "moved_to": f".abandoned/{folder.name}", "software_version": "test",
           "held": {"visit_record": {"started_utc": started_utc}}}
    (folder / "ABANDONED.json").write_text(json.dumps(rec), encoding="utf-8")
    return folder


def unrecoverable(data_dir: Path, subject: str, visit: str, stamp: str = "20260302T080000.000000Z") -> Path:
    key = f"{subject}_{visit}"
    root = data_dir / ".unrecoverable"
    folder = root / f"{key}.{stamp}"
    folder.mkdir(parents=True)
    note = {"key": key, "set_aside_utc": "2026-03-02T08:00:00.000000Z", "reason": "journal holds no record",
            "folder": folder.name}
    (root / f"{folder.name}.json").write_text(json.dumps(note), encoding="utf-8")
    return folder
