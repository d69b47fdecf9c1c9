"""`ScannerSource`: the facial scanner as seen by the session manager.

This is a FILE source, not a `acquisition.source.Source` of sample chunks: a 3D scanner's vendor software
exports each capture as files into a folder. `open()` checks the scanner's USB identity (pre-flight);
`poll()` returns the captures ingested since the last call, each a validated `ScanCapture` for
`/scans/<scan_id>`; `drain_events()` gives the `scan` events for the visit timeline (ingested, rejected with
file and problem, unassigned condition, duplicate); `counters()` the QC counters; `set_step()` tells it the
current protocol step (used when a file name carries no condition). The caller polls from one thread.

Privacy: vendor software often names exports after the patient. This source never hands out a vendor file
name, nor anything made from one: captures, events and log lines name files by their alias
(`capture_3/mesh.obj`, see `aliases`), photos by their view or index, scans by condition and repetition, and
moved files by the folder they went to (`ingested`), never by their path. OS errors are reported by their
`strerror` (the exception text quotes the path). The `.reason.txt` beside a rejected file, in the vendor's
folder, gives both names so the technician can find it. `emits_pseudonymous_names` tells the session manager
so, which then leaves the payloads as they are rather than re-pseudonymising them.

Vocabulary: its device events are the drivers' (`acquisition.events.DeviceEventName`), through the shared
`Reporter`: `device.opened` (USB identity checked; payload `identity`), `device.identity_unchecked` (no USB
check configured), `link.disconnected` / `link.reconnected` (the export folder, the scanner's link to us, gone
and back; counters `disconnects` / `reconnects`). Its `scan` events (`scan.ingested`, `scan.rejected`,
`scan.unassigned`) are the visit's scans, not device faults.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from acquisition.clock import local_clock
from acquisition.events import Event, EventKind
from acquisition.log import get_logger
from acquisition.reporter import Reporter
from acquisition.source import SourceError
from acquisition.stream import DeviceIdentity
from drivers.scanner.aliases import FileAliases, alias_group
from drivers.scanner.capture import ScanCapture
from drivers.scanner.errors import ScanRejected
from drivers.scanner.folder_watch import CaptureGroup, FolderWatcher, WatchConfig
from drivers.scanner.ingest import ScanNumbering, build_capture
from drivers.scanner.usb_identity import UsbExpectation, check_usb_identity
from drivers.scanner.validate import ValidationLimits


class ScannerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "scanner"
    watch: WatchConfig
    limits: ValidationLimits = Field(default_factory=ValidationLimits)
    usb: UsbExpectation | None = Field(default=None, description="None: no USB check (e.g. a phone exporting files)")
    simulated: bool = False


def _os_error(exc: OSError) -> str:
    """An OSError without the file names str(exc) quotes (`[Errno 2] No such file ...: '/x/DUPONT.obj'`)."""
    return exc.strerror or type(exc).__name__


class ScannerSource:
    """Watches the export folder; ingests, validates and hands over captures; moves broken ones aside."""

    #: every name in this source's captures, events and logs is an alias (see the module docstring)
    emits_pseudonymous_names = True

    def __init__(
        self,
        config: ScannerConfig,
        *,
        usb_backend: Any = None,
        clock: Callable[[], float] = local_clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._usb_backend = usb_backend
        self._clock = clock
        self.watcher = FolderWatcher(config.watch, clock=monotonic)
        self._monotonic = monotonic
        self._numbering = ScanNumbering()
        self._lock = threading.Lock()
        self._failing: dict[str, tuple[tuple[tuple[str, int, int], ...], ScanRejected]] = {}
        self._step = ""
        self._ingested_keys: dict[str, str] = {}
        self._ingested_signatures: set[tuple[tuple[str, int, int], ...]] = set()  # capture group key -> scan id, to explain late files
        self._capture_numbers: dict[str, int] = {}  # group key -> its number in the visit, while it is pending
        self._next_capture = 1
        self._rep = Reporter(config.name, (
            "captures_ingested", "captures_rejected", "files_ingested", "files_rejected", "parse_retries",
            "unassigned", "duplicates", "move_errors", "read_errors", "disconnects", "reconnects",
        ), clock=clock, logger="scanner")
        self._folder_missing = False
        self.identity: DeviceIdentity | None = None
        self._log = get_logger("scanner")

    @property
    def name(self) -> str:
        return self.config.name

    # -- lifecycle -----------------------------------------------------------------------------------
    def open(self) -> None:
        """Pre-flight: the export folder is usable and (if configured) the scanner is on USB with the right identity."""
        folder = Path(self.config.watch.folder)
        if not folder.is_dir():
            raise SourceError(f"scanner export folder {folder} does not exist or is not a folder")
        for sub in (self.watcher.ingested, self.watcher.rejected):
            try:
                sub.mkdir(exist_ok=True)
            except OSError as exc:
                raise SourceError(f"cannot create {sub}: {exc}") from exc
        if self.config.usb is not None:
            self.identity = check_usb_identity(self.config.usb, backend=self._usb_backend, simulated=self.config.simulated)
            self._event("device.opened", {"identity": self.identity.model_dump()}, kind="device")
        else:
            self.identity = DeviceIdentity(
                model="face scanner (file export)", serial="unknown", simulated=self.config.simulated,
                transport="folder",  # the export folder's path is the exam room's, not the record's
            )
            self._event("device.identity_unchecked", {"reason": "no USB identity configured"}, kind="device")
        self._log.info("scanner.opened", identity=self.identity.model_dump(), folder=str(folder))

    def close(self) -> None:
        """Nothing to release (polling watcher). Idempotent."""

    def set_step(self, step: str, duration_s: float = 0.0) -> None:
        with self._lock:
            self._step = step

    # -- polling -------------------------------------------------------------------------------------
    def poll(self) -> list[ScanCapture]:
        """One watcher pass: ingest the ready captures, reject the broken ones (after the grace time)."""
        out: list[ScanCapture] = []
        grace = self.config.watch.reject_grace_s
        now = self._monotonic()
        if not Path(self.config.watch.folder).is_dir():
            if not self._folder_missing:
                self._folder_missing = True
                self._event("link.disconnected", {"detail": "the export folder is gone"}, kind="device",
                            count="disconnects")
            return out
        if self._folder_missing:
            self._folder_missing = False
            self._event("link.reconnected", {"detail": "the export folder is back"}, kind="device",
                        count="reconnects")
        try:
            ready = self.watcher.poll()
        except OSError as exc:  # e.g. permissions changed under us: report, keep going
            self._rep.count("read_errors")
            self._log.error("scanner.list_failed", error=_os_error(exc))
            return out
        ready_keys = {g.key for g in ready}
        for key in list(self._failing):
            if key not in ready_keys:
                # its files changed or vanished: it will be tried again when complete
                self._failing.pop(key)
        for group in ready:
            if group.signature in self._ingested_signatures:
                continue  # ingested already but could not be moved (move_errors): do not ingest it twice
            aliases = self._aliases(group)
            failing = self._failing.get(group.key)
            if failing is not None and failing[0] == group.signature:
                if now - group.changed_at >= grace:
                    self._reject(group, aliases, failing[1])
                    self._failing.pop(group.key)
                continue
            if group.kind == "orphan" and group.key in self._ingested_keys:
                self._reject(group, aliases, ScanRejected(aliases.of(group.names[0]), (
                    f"arrived after its capture was ingested as {self._ingested_keys[group.key]!r}; "
                    "write landmark/sidecar files before or with the mesh")))
                continue
            try:
                with self._lock:
                    step = self._step
                cap = build_capture(
                    group, aliases=aliases, limits=self.config.limits, numbering=self._numbering, step=step,
                    t_lsl=self._clock(),
                )
            except ScanRejected as exc:
                if group.kind != "orphan" and now - group.changed_at < grace:
                    self._failing[group.key] = (group.signature, exc)
                    self._rep.count("parse_retries")
                    self._log.info("scan.waiting", capture=aliases.label, file=exc.file, problem=exc.problem)
                else:
                    self._reject(group, aliases, exc)
                continue
            except OSError as exc:  # a file vanished or is unreadable between listing and reading
                self._rep.count("read_errors")
                self._log.warning("scan.read_failed", capture=aliases.label, error=_os_error(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - a bug in a parser must not kill acquisition
                # the message may quote anything (a name, file content): the record gets the type only
                self._reject(group, aliases, ScanRejected(
                    aliases.of(group.names[0]), f"internal error while reading: {type(exc).__name__}",
                    detail=f"{type(exc).__name__}: {exc}"))
                continue
            if not self.watcher.still_matches(group):
                continue  # a file changed while we read it: not complete after all
            self._numbering.commit(cap.scan_id, cap.condition, cap.repetition)
            self._ingested_signatures.add(group.signature)
            try:
                moved = self.watcher.move_ingested(group)
            except OSError as exc:
                self._rep.count("move_errors")
                self._log.error("scan.move_failed", capture=aliases.label, error=_os_error(exc))
                moved = []
            self._capture_numbers.pop(group.key, None)
            self._rep.count("captures_ingested")
            self._ingested_keys[group.key] = cap.scan_id
            self._rep.count("files_ingested", len(moved))
            files = aliases.names(group.names)
            if cap.condition == "unassigned":
                self._rep.count("unassigned")
                self._event("scan.unassigned", {"scan_id": cap.scan_id, "capture": aliases.label, "files": files,
                                                "problem": "condition unknown: not in the name, sidecar or step"})
            if "_dup" in cap.scan_id:
                self._rep.count("duplicates")
            payload = cap.summary() | {"capture": aliases.label, "files_moved": len(moved),
                                       "moved_to": self.config.watch.ingested_dir if moved else ""}
            self._event("scan.ingested", payload, t_lsl=cap.t_lsl)
            out.append(cap)
        return out

    def _aliases(self, group: CaptureGroup) -> FileAliases:
        """The record's names for the group's files; its number is kept while it is pending (retries)."""
        number = self._capture_numbers.get(group.key)
        if number is None:
            number = self._capture_numbers[group.key] = self._next_capture
            self._next_capture += 1
        return alias_group(number, group.names, group.kind)

    def _reject(self, group: CaptureGroup, aliases: FileAliases, exc: ScanRejected) -> None:
        # the reason files lie beside the vendor's files, in the vendor's folder: they may name them
        detail = f"\n{exc.detail}" if exc.detail else ""
        reasons = {}
        for name in group.names:
            alias = aliases.of(name)
            if alias == exc.file:
                reasons[name] = f"{alias} ({name}): {exc.problem}{detail}"
            else:
                reasons[name] = (f"{alias} ({name}): moved with {exc.file} (same capture {aliases.label}), "
                                 f"which was rejected: {exc.problem}{detail}")
        try:
            moved = self.watcher.move_rejected(group, reasons)
        except OSError as err:
            self._rep.count("move_errors")
            self._log.error("scan.move_failed", capture=aliases.label, error=_os_error(err))
            moved = []
            self.watcher.forget(group.names)
        self._capture_numbers.pop(group.key, None)
        self._rep.count("captures_rejected")
        self._rep.count("files_rejected", len(moved))
        self._event("scan.rejected", {"capture": aliases.label, "file": exc.file, "problem": exc.problem,
                                      "files": aliases.names(group.names), "files_moved": len(moved),
                                      "moved_to": self.config.watch.rejected_dir if moved else ""})

    # -- events, counters ----------------------------------------------------------------------------
    def _event(self, name: str, payload: dict[str, Any], *, t_lsl: float | None = None, kind: EventKind = "scan",
               count: str | None = None) -> None:
        """One event through the shared reporter (its log line: the payload, aliases only, never a vendor name)."""
        with self._lock:
            step = self._step
        level = "warning" if name in ("scan.rejected", "scan.unassigned", "link.disconnected") else "info"
        self._rep.event(name, kind=kind, stream=self.name, step=step, t_lsl=t_lsl, count=count, level=level,
                        **payload)

    def drain_events(self) -> Sequence[Event]:
        return self._rep.drain_events()

    def counters(self) -> Mapping[str, int]:
        c = self._rep.counters()
        c["partial_files_seen"] = len(self.watcher.partial_seen)
        return c
