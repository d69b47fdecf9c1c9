"""Schema v2 of the visit file. `docs/file-format.md` is the human description of the same thing.

v2 (over v1): the content digest tree (root attributes `content_sha256` and `content_digests`) covers every dataset
and attribute, so a file checks itself; `MANIFEST.content` lists the roots beside `MANIFEST.sha256`.
"""

from __future__ import annotations

import h5py
import numpy as np

SCHEMA_VERSION = 2

#: groups every visit file has, even when empty
GROUPS = ("streams", "events", "scans", "calibration", "outcomes", "qc")

#: root attributes every visit file has
ROOT_ATTRS = (
    "schema_version",
    "software_version",
    "site",
    "subject",
    "visit",
    "operator",
    "started_utc",
    "closed_utc",
    "state",
    "simulated",
    "config",
    "boot_id",
    "content_sha256",
    "content_digests",
)

#: optional root attribute of a replayed visit (JSON `{"sha256": hex}`, with `"file": name` only when the replay kept
#: the original's subject and visit; reader `ReplayOf`): the sealed file it replays. A replay is never trial data
#: (production mode refuses to record one); see docs/replay.md
REPLAY_OF_ATTR = "replay_of"

#: optional root attributes of a visit run by a protocol (`sessions.protocol`): `protocol` (JSON `{"name", "version",
#: "sha256", "source"}`, reader `ProtocolStamp`; `sha256` is over the TOML file's bytes) and `protocol_toml` (that
#: file's text, so the hash is checked from the visit file alone)
PROTOCOL_ATTR = "protocol"
PROTOCOL_TOML_ATTR = "protocol_toml"

#: the visit's audit chain (`sessions.audit`, docs/audit.md): `/audit/entries`, one variable-length UTF-8 string per
#: entry (its canonical JSON line, hash-chained), in chain order; attribute `n_entries`. Not in `GROUPS`: a file
#: written before the audit trail has none (the writer adds it to every file since, empty without a trail)
AUDIT_GROUP = "audit"
AUDIT_ENTRIES = "entries"

#: the states a sealed file can be in
STATES = ("sealed", "recovered")

#: per-stream datasets
STREAM_DATASETS = ("data", "device_seq", "t_lsl")

_STR = h5py.string_dtype("utf-8")

EVENT_DTYPE = np.dtype(
    [
        ("t_lsl", np.float64),
        ("utc", _STR),
        ("kind", _STR),
        ("name", _STR),
        ("stream", _STR),
        ("step", _STR),
        ("payload", _STR),
    ]
)

GAP_DTYPE = np.dtype(
    [
        ("after_seq", np.int64),
        ("missing", np.int64),
        ("t_before", np.float64),
        ("t_after", np.float64),
    ]
)

OUTCOME_DTYPE = np.dtype(
    [("step", _STR), ("metric", _STR), ("value", np.float64), ("unit", _STR), ("method", _STR)]
)


def visit_key(subject: str, visit: str) -> str:
    """File stem of a visit: '<subject>_<visit>' (the subject id is validated before it gets here)."""
    return f"{subject}_{visit}"
