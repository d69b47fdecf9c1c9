"""`amuse-acq`: the technician's and the data manager's command line.

Errors are one clear line on stderr and a non-zero exit (2 for refused input, 1 for a failed operation);
never a traceback, not even for a bug (`internal error: <Type>: <first line>`, its traceback in the log at DEBUG). The CLI composes everything (sessions, drivers, acquisition), so it lives in `sessions`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acquisition.config import AcqSettings, Origin
from acquisition.log import configure
from sessions.cli_parser import SETTING_OPTIONS, build_parser

if TYPE_CHECKING:
    from drivers.common.sim_cli import SimCommand


class CliError(Exception):
    """Refused input or failed operation, with a one-line message."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _settings_explained(args: argparse.Namespace) -> tuple[AcqSettings, dict[str, Origin]]:
    """Settings from defaults, --config, AMUSE_* and this command's options, and where each value came from;
    a bad value is one line naming it."""
    from pydantic import ValidationError

    from sessions.cli_args import one_line, validation_message

    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = Path(args.data_dir)
    if getattr(args, "site", None) is not None:
        overrides["site"] = args.site
    if getattr(args, "create_data_dir", False):
        overrides["create_data_dir"] = True
    try:
        return AcqSettings.load_explained(getattr(args, "config", None), **overrides)
    except ValidationError as exc:
        raise CliError(validation_message(exc, "configuration")) from None
    except ValueError as exc:
        raise CliError(one_line(f"configuration: {exc}".splitlines()[0])) from None


def settings_for(args: argparse.Namespace) -> AcqSettings:
    """The settings a command runs with (defaults, --config, AMUSE_*, its `data_dir` / `site` / `create_data_dir`
    options), for the sub-commands' modules (`sessions.replay_cli` ...); a bad value is one `CliError` line."""
    return _settings_explained(args)[0]


_settings = settings_for  # the older private name, still imported by calibrate_cli and visits_cli


# -- config ---------------------------------------------------------------------------------------------
def cmd_config(args: argparse.Namespace) -> int:
    from sessions.config_report import config_report

    settings, origins = _settings_explained(args)
    config_file = getattr(args, "config", None)
    report = config_report(settings, origins, config_file=config_file, options=SETTING_OPTIONS)
    print(report.model_dump_json(indent=2))
    return 0


# -- demo -----------------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from sessions.demo import DemoStop, run_demo
    from sessions.inspect import summary_lines

    settings = _settings(args)
    # SIGTERM (and Ctrl-C) end the current step, skip the rest and seal what was recorded, as `record` does;
    # the exit code then says the visit was cut short: 143 (128 + SIGTERM) or 130 (128 + SIGINT)
    stop = DemoStop()
    codes = {"SIGTERM": 128 + signal.SIGTERM, "SIGINT": 128 + signal.SIGINT}
    previous = {sig: signal.signal(sig, lambda signum, _f: stop.request(signal.Signals(signum).name))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        sealed = run_demo(settings, subject=args.subject, visit=args.visit, operator=args.operator,
                          speed=args.speed, progress=lambda line: print(line, flush=True), stop=stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if sealed is None:
        return codes.get(stop.reason, 1)
    print(f"sealed: {sealed.path.resolve()}", flush=True)
    print(f"sha256: {sealed.sha256}")
    for line in summary_lines(sealed.path):
        print(line)
    return codes.get(stop.reason, 1) if stop.is_set() else 0


# -- record (LSL inlets) ---------------------------------------------------------------------------------
def cmd_record(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from acquisition.lsl.inlet import LslInletConfig, LslInletSource
    from sessions.cli_args import duplicate_lsl, validation_message
    from sessions.data_dir import check_visit_free, prepare_data_dir
    from sessions.manager import SessionManager
    from sessions.subject import VisitIdentity

    # every argument is checked before the visit is claimed and before LSL is resolved: a mistake costs nothing
    settings = _settings(args)
    ident = VisitIdentity.checked(subject=args.subject, visit=args.visit, operator=args.operator,
                                  site=settings.site, pattern=settings.subject_pattern,
                                  max_len=settings.subject_max_len, site_pattern=settings.site_pattern)
    if not args.lsl:
        raise CliError("record needs at least one --lsl NAME")
    if (dup := duplicate_lsl(args.lsl)) is not None:
        raise CliError(dup)
    try:
        configs = [LslInletConfig(lsl_name=name, resolve_timeout_s=args.resolve_timeout,
                                  seq_channel=args.seq_channel) for name in args.lsl]
    except ValidationError as exc:
        raise CliError(validation_message(exc, "--lsl")) from None
    prepare_data_dir(settings.data_dir, create=settings.create_data_dir)
    check_visit_free(settings.data_dir, ident.key)
    from sessions.visit_calibration import records_in_force

    calibration = records_in_force(settings.data_dir, simulated=True)  # a damaged store refuses first
    sources = [LslInletSource(cfg) for cfg in configs]
    # resolve every stream before claiming the visit: a typo must not leave an empty recording behind
    for src in sources:
        src.open()
    try:
        from sessions.lsl_provenance import recording_provenance

        # what the streams say they are (an LSL replay, a simulated device): refused in production, else marked
        simulated, replay_of = recording_provenance(sources, production=settings.production, simulated=args.simulated)
        from sessions.visit_calibration import for_visit

        session = SessionManager.open(settings, ident, simulated=simulated,
                                      calibration=for_visit(calibration, simulated=simulated), replay_of=replay_of)
    except BaseException:  # e.g. the journal could not be written (VisitOpenFailed): let go of the inlets
        for src in sources:
            src.close()
        raise
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    from sessions.record_report import stream_summary, wait_reporting

    for src in sources:
        session.add_source(src, opened=True)
    print(f"recording {', '.join(args.lsl)} into visit {ident.key}; Ctrl-C to stop", flush=True)
    # a stalled or lossy stream is said while there is time to act; a failed journal ends the wait at once
    why = wait_reporting(session, stop, args.duration or 0.0, lambda line: print(line, file=sys.stderr, flush=True))
    if why != "failed":
        print("stopping: sealing the visit file", flush=True)
    t_close = time.perf_counter()
    sealed = session.close()  # a failed visit raises VisitFailed here: one line, exit 1
    print(f"sealed: {sealed.path.resolve()}  (close took {time.perf_counter() - t_close:.3f} s)", flush=True)
    for name, q in sealed.qc["streams"].items():
        print(stream_summary(name, q))
    return 0


# -- inspect / verify / recover ----------------------------------------------------------------------------
def cmd_inspect(args: argparse.Namespace) -> int:
    from sessions.inspect import inspect_file

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    result = inspect_file(path, events=args.events)
    if result.error is not None:
        raise CliError(result.error, code=1)
    for line in result.lines:
        print(line)
    if not result.ok:
        raise CliError(f"{path.name} is damaged or altered: see the FAILED lines above", code=1)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from sessions.verify_command import run_verify

    target = Path(args.target)
    if not (target.is_dir() or target.is_file()):
        raise CliError(f"{target}: no such file or directory")
    return run_verify(target)


def cmd_recover(args: argparse.Namespace) -> int:
    """One line per open visit (recovered / seal completed / set aside / busy / failed, with the reason); exit 1
    if any visit is not recovered or was recovered with journal damage (its QC failed)."""
    import errno

    from sessions.cli_args import one_line
    from sessions.recover import recover_all
    from sessions.visit_store import DataDirBusy

    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        raise CliError(f"{data_dir}: no such directory")
    try:
        outcomes = recover_all(data_dir)
    except DataDirBusy as exc:  # another recover runs: say who, touch nothing
        raise CliError(f"recover: {exc}", code=1) from None
    except OSError as exc:  # the lock file itself could not be created (a full disk...)
        what = "no space left on device to lock" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "cannot lock"
        raise CliError(f"recover: {what} {data_dir}: {exc.strerror or exc}", code=1) from None

    # every line goes through `one_line`: a folder name under .open/, a journal's subject or visit, a stream
    # name are whatever a crash, a copy or a hand left there, and must not drive the terminal
    def say(text: str) -> None:
        print(one_line(text, 4000))

    if not outcomes:
        say(f"{data_dir}: no open visit to recover")
    bad = 0
    for o in outcomes:
        say(o.line())
        if o.sealed is not None:
            for name, q in o.sealed.qc.get("streams", {}).items():
                say(f"  {name}: {q.get('received')} samples, missing {q.get('missing_by_seq')}")
        if o.damage_line():
            say(f"  {o.damage_line()}")
        bad += (not o.ok) or bool(o.damage_line())
    if bad:
        print(f"recover: {bad} of {len(outcomes)} visit(s) not recovered or recovered with journal damage")
        return 1
    return 0


# -- abandon -------------------------------------------------------------------------------------------
def cmd_abandon(args: argparse.Namespace) -> int:
    from sessions.abandon import abandon_visit
    from sessions.subject import VisitIdentity

    settings = _settings(args)
    ident = VisitIdentity.checked(subject=args.subject, visit=args.visit, operator=args.operator,
                                  site=settings.site, pattern=settings.subject_pattern,
                                  max_len=settings.subject_max_len, site_pattern=settings.site_pattern)
    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        raise CliError(f"{data_dir}: no such directory")
    rec = abandon_visit(data_dir, ident, args.reason)
    print(f"abandoned: visit {rec.key} moved to {data_dir / rec.moved_to} "
          f"({rec.held['bytes']} bytes, streams: {', '.join(rec.held['streams']) or 'none'})")
    print(f"recorded in {data_dir / rec.moved_to / 'ABANDONED.json'} and {data_dir / 'ABANDONED.log'}; "
          f"visit {rec.key} can be recorded again")
    return 0


# -- simulate ------------------------------------------------------------------------------------------
def cmd_simulate(args: argparse.Namespace) -> int:
    from drivers.common.sim_cli import SimulatorRefused

    command: SimCommand = args.simulator
    try:
        return int(command.run(args) or 0)
    except SimulatorRefused as exc:
        raise CliError(f"simulate {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # the simulators' options only matter to `simulate` (and to a --help, which may list them)
    parser = build_parser(simulators=any(a in ("simulate", "-h", "--help") for a in argv),
                          calibrate_kinds=any(a in ("calibrate", "-h", "--help") for a in argv))
    try:  # argparse exits on a refused argument (one line, exit 2) or on --help: a code returned, like the rest
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    # the demo talks to a person: its progress lines, and only warnings from the machinery
    quiet = args.cmd in ("demo", "calibrate", "rig", "replay", "visit")  # a technician reads these: warnings only, unless asked
    configure(level=args.log_level or os.environ.get("AMUSE_LOG_LEVEL") or ("WARNING" if quiet else None))
    from pydantic import ValidationError

    from acquisition.source import SourceError
    from acquisition.visitfile.reader import VisitFileError
    from acquisition.visitfile.seal import SealError
    from sessions.abandon import AbandonRefused
    from sessions.cli_args import one_line, validation_message
    from sessions.data_dir import DataDirError
    from sessions.manager import SessionError
    from sessions.subject import InvalidIdentifier
    from sessions.visit_store import VisitExists
    from sessions.visit_windows import VisitWindowRefused

    def fail(kind: str, message: object, code: int) -> int:
        # one line, whatever the message echoes back (a path, a site code typed with escape codes)
        print(f"amuse-acq: {kind}: {one_line(str(message))}", file=sys.stderr)
        return code

    try:
        if args.cmd in ("replay", "compare"):
            from sessions.replay_cli import cmd_compare, cmd_replay

            return (cmd_replay if args.cmd == "replay" else cmd_compare)(args)
        if args.cmd == "rig":
            from sessions.rig_cli import cmd_rig

            return cmd_rig(args)
        if args.cmd == "audit":
            from sessions.audit_cli import cmd_audit

            return cmd_audit(args)
        if args.cmd == "calibrate":
            from sessions.calibrate_cli import cmd_calibrate

            return cmd_calibrate(args)
        if args.cmd == "visits":
            from sessions.visits_cli import cmd_visits

            return cmd_visits(args)
        if args.cmd == "visit":
            from sessions.visit_cli import run_cli

            return run_cli(args)
        return {"demo": cmd_demo, "record": cmd_record, "inspect": cmd_inspect, "verify": cmd_verify,
                "recover": cmd_recover, "abandon": cmd_abandon, "config": cmd_config,
                "simulate": cmd_simulate}[args.cmd](args)
    except CliError as exc:
        return fail("error", exc, exc.code)
    except (InvalidIdentifier, VisitExists) as exc:
        return fail("refused", exc, 2)
    except VisitWindowRefused as exc:  # the visit window rule (sessions.visit_windows), with what to do
        return fail("refused", exc, exc.code)
    except (DataDirError, AbandonRefused) as exc:
        return fail("refused" if exc.code == 2 else "error", exc, exc.code)
    except (SourceError, SessionError, SealError) as exc:
        return fail("error", exc, 1)
    except VisitFileError as exc:  # a visit file a command reads is unsealed, damaged or altered
        return fail("refused", exc, 1)
    except ValidationError as exc:
        return fail("refused", validation_message(exc), 2)
    except OSError as exc:
        # the data directory on a file, under /proc, read-only, full...: what failed and where, never a traceback
        # a symlink or a rename names two paths: both, or "no such file: /dev/pts/3" hides the missing directory
        where = (f": {exc.filename}" if exc.filename else "") + (f" -> {exc.filename2}" if exc.filename2 else "")
        return fail("error", f"{exc.strerror or exc}{where}" if exc.strerror else exc, 1)
    except KeyboardInterrupt:
        print("amuse-acq: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug, not the operator's mistake: one line, the traceback in the log
        from acquisition.log import get_logger

        get_logger("cli").debug("cli.internal_error", command=args.cmd, exc_info=True)
        first = (str(exc).splitlines() or [""])[0]
        return fail("internal error", f"{type(exc).__name__}: {first}; details in the log (--log-level DEBUG)", 1)


if __name__ == "__main__":
    sys.exit(main())
