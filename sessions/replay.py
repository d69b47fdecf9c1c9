"""`replay_into`: record a sealed visit again, deterministically, through the real session manager (`amuse-acq
replay FILE --into DATA_DIR`), for CI and for checking a new version of the pipeline against recorded visits.

How (docs/replay.md says it for a user):
1. The file is opened through the visit file reader, sealed and fully verified (`verify="full"`: every sample
   block re-read against its digests), before anything touches DATA_DIR: an unsealed, tampered or unknown-schema
   file is refused in one line (`VisitFileError`) and nothing is written.
2. `ReplayPlan` reads what the original session did (sources, steps, events) and when.
3. A `SessionManager` opens the visit on a `ReplayClock` set to the original's `visit.opened` time, with the
   original's calibration records, `simulated` as the original, and `replay_of` (the SHA-256, and the file name
   only if the replay keeps the original's subject and visit: the name is a pseudonym): the new file says it is a
   replay, and production mode refuses it.
4. The driver walks the plan in time order. Before each action it moves the clock to the action's exact time,
   letting every replay source hand over what was recorded up to then, and waits (bounded, `settle_timeout_s`)
   until they have; between actions it moves in `tick_s` steps so that a source never holds more than a tick
   of data, and over a silence (nothing due within a tick) it jumps straight to the next time something falls
   due. Every move makes something due or reaches the target, so the moves are bounded (by the items to hand
   over, and the visit's span in ticks); a clock that stops moving is `ReplayFailed`, never a hang. An action
   outside the visit (`visit.opened` to `visit.closed`) was refused by the plan before anything was written.
   Actions: add a source (or the scanner) at its `source.started` time; start / end a step with its recorded
   repetition and duration; record again a calibration taken during the visit (`calibration.recorded`);
   write an event the session cannot regenerate (markers, operator actions) with its own time and step; stop a
   source at its `source.stopped` time, after handing over everything but the samples the original drained at
   its stop. Then the original's outcomes, and `close()` at the time of the original's `visit.closed`.
So everything the session stamps with its clock gets the original's time, every sample and device event is the
recorded one, and the new file matches the original (`sessions.compare` says exactly what is compared).

Speed: the pipeline sets it (journal, compactor, seal); the clock never waits for wall time. LSL outlets are
off for a replay into a data directory (`amuse-acq replay --lsl` is the live replay on LSL).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from acquisition.config import AcqSettings
from acquisition.log import get_logger
from acquisition.replay.clock import ReplayClock
from acquisition.replay.origin import ReplayOf, replay_origin
from acquisition.replay.plan import Action, ReplayPlan, ReplayUnsupported, SourcePlan
from acquisition.replay.scans import ReplayScanSource, replay_scan_encoder
from acquisition.replay.source import ReplaySource
from acquisition.visitfile.reader import VisitFile
from calibration.records import CalibrationRecord
from sessions.data_dir import check_visit_free, prepare_data_dir
from sessions.manager import SessionManager
from sessions.protocol import ProtocolFile, parse_protocol
from sessions.session_errors import SessionError
from sessions.subject import VisitIdentity

__all__ = ["ReplayFailed", "ReplayRefused", "replay_into"]

#: virtual seconds between two hand-overs when no action falls in between: bounds what a source holds at once
#: (5 s of 16 EMG channels at 2 kHz: 640 kB). 1 s cost 10 % more CPU on the demo visit (more, smaller chunks)
TICK_S = 5.0
#: real seconds a source may take to hand over what is due before the replay gives up
SETTLE_TIMEOUT_S = 60.0
#: the scanner reader's poll period during a replay (real seconds; 0.2 s in a visit)
SCAN_POLL_S = 0.01
#: settings a replay into a data directory runs with, over the caller's (recorded in the file's `config`): no
#: LSL outlets (the live view is not part of the record, and `--lsl` is the live replay); readers that wait 10 ms
#: for the clock rather than 100 ms (a source's stop joins its reader, which ends at its next wake-up); the
#: compactor every 0.2 s, so the file is built while the replay runs rather than all at the close
REPLAY_SETTINGS = {"lsl_outlets": False, "reader_timeout_s": 0.01, "compaction_interval_s": 0.2}


class ReplayRefused(SessionError):
    """The replay cannot be done (production mode, a file the replay cannot redo); nothing was written."""


class ReplayFailed(SessionError):
    """The replay stopped part way (a source did not hand over in time); what was recorded is sealed."""


def replay_into(path: Path, settings: AcqSettings, *, subject: str | None = None, visit: str | None = None,
                operator: str | None = None) -> Path:
    """Replay the sealed visit file `path` into `settings.data_dir` as a new sealed visit; its path.

    `subject` / `visit` / `operator` override the original's (the new file is `<subject>_<visit>.h5`; the
    original's own name cannot be reused in the directory that holds the original). Raises `VisitFileError`
    (unsealed, damaged, tampered, unknown schema), `ReplayRefused`, `InvalidIdentifier`, `DataDirError`,
    `VisitExists` before anything is written; `ReplayFailed` or the session's errors after."""
    return _Replay(Path(path), settings, subject=subject, visit=visit, operator=operator).run()


class _Replay:
    def __init__(self, path: Path, settings: AcqSettings, *, subject: str | None, visit: str | None,
                 operator: str | None) -> None:
        if settings.production:
            raise ReplayRefused(f"production mode refuses to record a replay of {path.name} as a new visit: a "
                                "replay is never trial data")
        self.path = path
        self.settings = settings
        self.overrides = {"subject": subject, "visit": visit, "operator": operator}
        self.tick_s = TICK_S
        self.settle_timeout_s = SETTLE_TIMEOUT_S
        self._log = get_logger("replay", file=path.name)
        self._calibrations: dict[str, CalibrationRecord] = {}

    def run(self) -> Path:
        if not self.path.is_file():
            raise ReplayRefused(f"{self.path}: no such file")
        with VisitFile.open(self.path, require_sealed=True, verify="full") as vf:
            try:
                plan = ReplayPlan.read(vf)
            except ReplayUnsupported as exc:
                raise ReplayRefused(f"{self.path.name}: {exc}") from None
            ident = self._identity(vf)
            # the original's name is its pseudonym and visit code: kept only if the replay keeps both
            origin = replay_origin(self.path, keep_name=(ident.subject, ident.visit.value) ==
                                   (vf.identity.subject, vf.identity.visit))
            self._calibrations = self._recorded_calibrations(plan)
            clock = ReplayClock(plan.open_t)
            sources = {name: self._source(vf, sp, clock, origin) for name, sp in plan.sources.items()}
            # everything above only read the file: a refusal up to here leaves DATA_DIR as it was
            prepare_data_dir(self.settings.data_dir, create=self.settings.create_data_dir)
            check_visit_free(self.settings.data_dir, ident.key)
            return self._record(vf, plan, ident, origin, clock, sources)

    def _recorded_calibrations(self, plan: ReplayPlan) -> dict[str, CalibrationRecord]:
        """The calibrations taken during the original visit, checked now: before anything is written."""
        out = {}
        for cid, raw in plan.recorded_calibration.items():
            try:
                out[cid] = CalibrationRecord.model_validate(raw)
            except ValidationError as exc:
                raise ReplayRefused(f"{self.path.name}: calibration {cid!r}, recorded during the visit, is not a "
                                    f"calibration record this software reads ({exc.error_count()} error(s))"
                                    ) from None
        return out

    def _identity(self, vf: VisitFile) -> VisitIdentity:
        a, s, o = vf.identity, self.settings, self.overrides
        return VisitIdentity.checked(subject=o["subject"] or a.subject, visit=o["visit"] or a.visit,
                                     operator=o["operator"] or a.operator, site=a.site, pattern=s.subject_pattern,
                                     max_len=s.subject_max_len, site_pattern=s.site_pattern)

    def _record(self, vf: VisitFile, plan: ReplayPlan, ident: VisitIdentity, origin: ReplayOf, clock: ReplayClock,
                sources: dict[str, ReplaySource | ReplayScanSource]) -> Path:
        settings = self.settings.model_copy(update=REPLAY_SETTINGS)
        self._moves = 0
        items = sum(src.items for src in sources.values())
        self._max_moves = len(plan.actions) + 8 + min(items, math.ceil((plan.close_t - plan.open_t) / self.tick_s))
        self._log.info("replay.started", sources=list(sources), actions=len(plan.actions), key=ident.key)
        with SessionManager.open(settings, ident, simulated=vf.identity.simulated, calibration=plan.calibration,
                                 clock=clock, scan_encoder=replay_scan_encoder, replay_of=origin,
                                 protocol=_protocol_of(vf)) as session:
            live: dict[str, ReplaySource | ReplayScanSource] = {}
            for action in plan.actions:
                self._advance(clock, action.t, live)
                self._do(session, action, sources, live, clock)
            self._advance(clock, plan.close_t, live)
            for name in list(live):  # a source the original never stopped (a recovered visit)
                self._stop(session, name, live, clock)
            if plan.outcomes:
                session.record_outcomes(plan.outcomes)
            for name, value in plan.recorded_qc.items():
                session.record_qc(name, value)
            sealed = session.close()
        self._log.info("replay.sealed", path=str(sealed.path))
        return sealed.path

    # -- the sources -------------------------------------------------------------------------------------
    @staticmethod
    def _source(vf: VisitFile, sp: SourcePlan, clock: ReplayClock,
                origin: ReplayOf) -> ReplaySource | ReplayScanSource:
        if sp.scanner:
            return ReplayScanSource(sp.name, [vf.scans[i] for i in vf.scans], clock=clock, events=sp.events,
                                    counters=sp.counters)
        missing = [n for n in sp.streams if n not in vf.streams]
        if missing:
            raise ReplayRefused(f"{vf.path.name}: source {sp.name!r} recorded stream(s) {', '.join(missing)} that "
                                "the file does not hold")
        return ReplaySource(sp.name, [vf.streams[n] for n in sp.streams], clock=clock, origin=origin,
                            events=sp.events, counters=sp.counters, held_at_stop=sp.drained_at_stop)

    # -- walking the plan ------------------------------------------------------------------------------------
    def _advance(self, clock: ReplayClock, t: float, live: dict[str, Any]) -> None:
        """Move the clock to `t` in ticks, each time waiting until every live source handed over what is due; over
        a silence (nothing due within a tick), in one move to the next time something falls due."""
        now = clock()
        if not math.isfinite(t) or t <= now:
            return
        while now < t:
            if self._moves >= self._max_moves:
                raise ReplayFailed(f"replay of {self.path.name}: the clock did not reach t={t!r} after "
                                   f"{self._moves} moves (it is at t={now!r}); what was recorded is sealed")
            self._moves += 1
            due = min((src.next_due(now) for src in live.values()), default=math.inf)
            now = clock.advance(min(t, now + self.tick_s if due <= now + self.tick_s else due))
            self._settle(clock, live, f"t={now!r}")

    def _settle(self, clock: ReplayClock, live: dict[str, Any], when: str) -> None:
        streams = [s for s in live.values() if isinstance(s, ReplaySource)]
        if not clock.wait_until(lambda: all(s.pending() == 0 for s in streams), self.settle_timeout_s):
            late = ", ".join(f"{s.name} ({s.pending()} samples)" for s in streams if s.pending())
            raise ReplayFailed(f"replay of {self.path.name}: {late} not taken by the session within "
                               f"{self.settle_timeout_s:g} s at {when}; what was recorded is sealed")

    def _do(self, session: SessionManager, a: Action, sources: dict[str, Any], live: dict[str, Any],
            clock: ReplayClock) -> None:
        ev = a.event
        if a.kind == "add":
            src = sources[a.source]
            if isinstance(src, ReplayScanSource):
                session.add_scanner(src, poll_s=SCAN_POLL_S)
            else:
                session.add_source(src)
            live[a.source] = src
            self._settle(clock, live, f"start of {a.source}")
        elif a.kind == "remove":
            if a.source in live:
                self._stop(session, a.source, live, clock)
        elif a.kind == "start_step" and ev is not None:
            rep, dur = ev.payload.get("repetition", 1), ev.payload.get("duration_s", 0.0)
            session.start_step(ev.step, repetition=rep if isinstance(rep, int) else 1,
                               duration_s=float(dur) if isinstance(dur, (int, float)) else 0.0)
        elif a.kind == "end_step":
            session.end_step()
        elif a.kind == "calibrate" and ev is not None:
            for cid in ev.payload.get("ids") or ():
                session.record_calibration(self._calibrations[str(cid)])
        elif a.kind == "emit" and ev is not None:
            session.event(ev.kind, ev.name, stream=ev.stream, step=ev.step, payload=ev.payload, t_lsl=ev.t_lsl)

    def _stop(self, session: SessionManager, name: str, live: dict[str, Any], clock: ReplayClock) -> None:
        """Hand over all but the original's drained tail, wait until taken, then stop it (`source.stopped`)."""
        src = live[name]
        src.prepare_stop()
        if isinstance(src, ReplaySource):
            self._settle(clock, {name: src}, f"stop of {name}")
        session.remove_source(name)
        del live[name]


def _protocol_of(vf: VisitFile) -> ProtocolFile | None:
    """The protocol the original was run by (its stamp and its TOML text, root attributes), stamped again on the
    replay: the same bytes, so the same SHA-256."""
    stamp = vf.identity.protocol
    if stamp is None:
        return None
    text = (vf.identity.model_extra or {}).get("protocol_toml")
    if not isinstance(text, str):
        raise ReplayUnsupported(f"{vf.path.name}: the protocol {stamp.name!r} is stamped but its text "
                                "(attribute protocol_toml) is missing")
    return parse_protocol(text.encode("utf-8"), source=stamp.source)

