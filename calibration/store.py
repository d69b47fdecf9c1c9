"""The calibration store, `DATA_DIR/calibration/`: every calibration ever performed, append-only.

Layout, one file per record (a record is small and written once; a file per record makes every write atomic
without a log to repair):

    DATA_DIR/calibration/.lock                      flock'ed by the one writer appending, for the append
    DATA_DIR/calibration/000001_plate-tare.json     {"format", "seq", "sha256", "record"}, mode 0444
    DATA_DIR/calibration/000002_plate-mass.json     ...

Append-only as a contract, checked on every read:
- a record is written to a hidden temporary file, fsynced, then `link`ed to its name (link refuses an existing
  name: nothing is ever overwritten) and the directory fsynced; a crash leaves at most a `.tmp-*` file, no record;
- sequence numbers run 1..N without a hole, under the lock, so two writers never take the same one;
- a newer record of the same kind and device `supersedes` the previous one by id: the chain of each (kind, serial)
  must be exactly the records in sequence order, so a deleted, replaced or hand-made record breaks it;
- each file carries the SHA-256 of its record: a flipped bit that still parses as JSON is found too.
Any of these broken raises `CalibrationStoreDamaged` naming the file and what is wrong: a damaged record is never
skipped (the record in force could be the one skipped), and nothing is appended to a damaged store.

In force: for each (kind, device serial), the newest record performed by `at`, if it passed and has not expired.
A failed newer record supersedes a passed older one: the device is out of calibration until it passes again.

The per-visit kinds (`PER_VISIT_KINDS`: jaw-reference, emg-noise) are measured on one patient in one visit: the
store refuses them, and `in_force` never returns one (a store written before it refused them may hold some).

What the store cannot see by itself: the newest record file deleted (with its chain's head) leaves a store that
is consistent, one record shorter; so would a whole store replaced by an older backup. Nothing in the files can
tell (a keyed MAC would need a secret the station keeps from its own users). The mitigation is outside the store:
every append logs `calibration.stored` with the record's id, sequence number and SHA-256 (the journal of the
station, shipped off it), and every visit file carries the records it was given.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import ValidationError

from acquisition.journal.layout import fsync_dir, makedirs_durable
from acquisition.log import get_logger
from calibration.records import PER_VISIT_KINDS, CalibrationRecord, aware

FORMAT = "amuse-calibration-record/1"
STORE_DIR = "calibration"
_NAME = re.compile(r"^(\d{6})_([a-z][a-z-]{0,31})\.json$")
_LOCK_WAIT_S = 10.0


class CalibrationStoreError(Exception):
    """The store cannot be read or written (one line)."""


class CalibrationStoreDamaged(CalibrationStoreError):
    """A record file of the store is damaged, missing or not where the chain says: `path`, and why."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"calibration store damaged: {path}: {why}")
        self.path = path
        self.why = why


def _canonical(record: dict[str, object]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


class CalibrationStore:
    """`DATA_DIR/calibration/`. Reading a store that does not exist yet gives no record; the first append makes it."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / STORE_DIR
        self._log = get_logger("calibration.store")

    # -- reading -----------------------------------------------------------------------------------------
    def records(self) -> list[CalibrationRecord]:
        """Every record, in sequence order, each checked (see the module docstring); raises if any is damaged."""
        return [rec for _, rec in self._read_all()]

    def _read_all(self) -> list[tuple[Path, CalibrationRecord]]:
        if not self.root.exists():
            return []
        if not self.root.is_dir():
            raise CalibrationStoreError(f"calibration store {self.root} is not a directory")
        numbered: list[tuple[int, Path, str]] = []
        for entry in sorted(os.listdir(self.root)):
            if entry.startswith("."):
                continue  # the lock, and temporary files a crashed writer left (never linked: not records)
            m = _NAME.match(entry)
            if m is None:
                raise CalibrationStoreDamaged(self.root / entry, "not a record file name (NNNNNN_<kind>.json); "
                                              "nothing but records belongs in the store")
            numbered.append((int(m.group(1)), self.root / entry, m.group(2)))
        numbered.sort()
        out: list[tuple[Path, CalibrationRecord]] = []
        heads: dict[tuple[str, str], str] = {}
        ids: set[str] = set()
        for expected, (seq, path, kind) in enumerate(numbered, start=1):
            if seq != expected:
                missing = self.root / f"{expected:06d}_*.json"
                raise CalibrationStoreDamaged(missing, f"record {expected} is missing (found {seq} next): a "
                                              "record was removed from the append-only store")
            rec = self._read_one(path, seq, kind)
            if rec.id in ids:
                raise CalibrationStoreDamaged(path, f"id {rec.id!r} is used by an earlier record too")
            if rec.supersedes != heads.get(rec.key):
                raise CalibrationStoreDamaged(path, f"supersedes {rec.supersedes!r}, but the previous "
                                              f"{rec.kind} record of {rec.device_serial!r} is "
                                              f"{heads.get(rec.key)!r}: the chain is broken")
            ids.add(rec.id)
            heads[rec.key] = rec.id
            out.append((path, rec))
        return out

    @staticmethod
    def _read_one(path: Path, seq: int, kind: str) -> CalibrationRecord:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise CalibrationStoreDamaged(path, f"cannot be read: {exc.strerror or exc}") from None
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CalibrationStoreDamaged(path, f"not valid JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
            raise CalibrationStoreDamaged(path, f"expected format {FORMAT!r}, found {found!r}")
        body = doc.get("record")
        if not isinstance(body, dict):
            raise CalibrationStoreDamaged(path, "no record object in the file")
        try:
            digest = hashlib.sha256(_canonical(body)).hexdigest()
        except (TypeError, ValueError) as exc:
            raise CalibrationStoreDamaged(path, f"record is not plain JSON ({exc})") from None
        if doc.get("sha256") != digest:
            raise CalibrationStoreDamaged(path, f"SHA-256 of the record is {digest}, the file says "
                                          f"{doc.get('sha256')!r}: the record was altered")
        if doc.get("seq") != seq:
            raise CalibrationStoreDamaged(path, f"file name says record {seq}, the file says {doc.get('seq')!r}")
        try:
            rec = CalibrationRecord.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "record"
            raise CalibrationStoreDamaged(path, f"record does not validate: {where}: {first['msg']}") from None
        if rec.kind != kind:
            raise CalibrationStoreDamaged(path, f"file name says kind {kind!r}, the record is {rec.kind!r}")
        return rec

    def latest(self, kind: str, device_serial: str, *, at: _dt.datetime | None = None) -> CalibrationRecord | None:
        """The newest record of `kind` for this device (performed by `at`, default: any), passed or not."""
        at = None if at is None else aware(at)
        found = None
        for rec in self.records():
            if rec.key == (kind, device_serial) and (at is None or rec.performed <= at):
                found = rec
        return found

    def in_force(self, kinds: Iterable[str] | None = None, *, at: _dt.datetime | None = None) -> list[CalibrationRecord]:
        """For each (kind, device) the newest record performed by `at` (default now; aware), if it passed and has
        not expired at `at`; sorted by kind then serial. `kinds` restricts the kinds. Never a per-visit kind."""
        at = _dt.datetime.now(_dt.timezone.utc) if at is None else aware(at)
        wanted = None if kinds is None else set(kinds)
        newest: dict[tuple[str, str], CalibrationRecord] = {}
        for rec in self.records():
            if rec.kind in PER_VISIT_KINDS:
                continue  # another visit's patient
            if (wanted is None or rec.kind in wanted) and rec.performed <= at:
                newest[rec.key] = rec
        return sorted((r for r in newest.values() if r.in_force(at)), key=lambda r: r.key)

    def path_of(self, record_id: str) -> Path:
        for path, rec in self._read_all():
            if rec.id == record_id:
                return path
        raise KeyError(f"no record {record_id!r} in {self.root}")

    # -- writing ----------------------------------------------------------------------------------------
    def append(self, record: CalibrationRecord) -> tuple[CalibrationRecord, Path]:
        """Store `record` as the newest of its kind and device: it gets its final `id` and its `supersedes` link.
        Returns the record as stored and its file. Safe against concurrent writers (threads or processes).
        A per-visit kind is refused (`CalibrationStoreError`): it belongs to the visit it was measured in."""
        if record.kind in PER_VISIT_KINDS:
            raise CalibrationStoreError(f"{record.kind} is measured on the patient for one visit: it is recorded into "
                                        "that visit (SessionManager.record_calibration), never into the store")
        try:
            makedirs_durable(self.root)
        except OSError as exc:
            raise CalibrationStoreError(f"cannot create calibration store {self.root}: {exc.strerror or exc}") \
                from None
        with self._locked():
            existing = self._read_all()
            ids = {rec.id for _, rec in existing}
            prev = next((rec for _, rec in reversed(existing) if rec.key == record.key), None)
            base = f"{record.kind}:{record.device_serial}:{record.performed_utc}"[:190]
            new_id, n = base, 1
            while new_id in ids:
                n += 1
                new_id = f"{base}#{n}"
            body = record.model_dump(mode="json")
            body.update(id=new_id, supersedes=prev.id if prev is not None else None)
            stored = CalibrationRecord.model_validate(body)
            seq = len(existing) + 1
            path = self.root / f"{seq:06d}_{stored.kind}.json"
            canon = stored.model_dump(mode="json")
            digest = hashlib.sha256(_canonical(canon)).hexdigest()
            doc = {"format": FORMAT, "seq": seq, "sha256": digest, "record": canon}
            self._write_new(path, (json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n").encode())
        # the audit trail of what the store alone cannot prove (its newest file deleted): see the module docstring
        self._log.info("calibration.stored", record=stored.id, kind=stored.kind, serial=stored.device_serial,
                       passed=stored.passed, supersedes=stored.supersedes, file=path.name, seq=seq, sha256=digest)
        return stored, path

    def _write_new(self, path: Path, data: bytes) -> None:
        tmp = self.root / f".tmp-{os.getpid()}-{time.monotonic_ns()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)  # refuses an existing name: a record is never overwritten
            except FileExistsError:
                raise CalibrationStoreError(f"{path} already exists: another writer bypassed the store's lock") \
                    from None
            fsync_dir(self.root)
        except OSError as exc:
            raise CalibrationStoreError(f"cannot write calibration record {path}: {exc.strerror or exc}") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            deadline = time.monotonic() + _LOCK_WAIT_S
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                        raise CalibrationStoreError(f"calibration store {self.root} stays locked by another "
                                                    f"writer ({_LOCK_WAIT_S:.0f} s)") from None
                    time.sleep(0.01)
            yield
        finally:
            os.close(fd)  # drops the flock
