"""`amuse-acq`: the technician's and the data manager's command line.

Errors are one clear line on stderr and a non-zero exit (2 for refused input, 1 for a failed operation);
never a traceback. The CLI composes everything (sessions, drivers, acquisition), so it lives in `sessions`.
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
from typing import Any

from acquisition.config import AcqSettings
from acquisition.log import configure


class CliError(Exception):
    """Refused input or failed operation, with a one-line message."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _settings(args: argparse.Namespace) -> AcqSettings:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = Path(args.data_dir)
    if getattr(args, "site", None):
        overrides["site"] = args.site
    try:
        return AcqSettings.load(getattr(args, "config", None), **overrides)
    except ValueError as exc:
        raise CliError(f"configuration: {exc}".splitlines()[0]) from None


# -- demo -----------------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from sessions.demo import run_demo
    from sessions.inspect import summary_lines

    settings = _settings(args)
    sealed = run_demo(settings, subject=args.subject, visit=args.visit, operator=args.operator,
                      speed=args.speed, progress=print)
    print(f"sealed: {sealed.path.resolve()}")
    print(f"sha256: {sealed.sha256}")
    for line in summary_lines(sealed.path):
        print(line)
    return 0


# -- record (LSL inlets) ---------------------------------------------------------------------------------
def cmd_record(args: argparse.Namespace) -> int:
    from acquisition.lsl.inlet import LslInletConfig, LslInletSource
    from sessions.manager import SessionManager
    from sessions.subject import VisitIdentity

    settings = _settings(args)
    ident = VisitIdentity.checked(subject=args.subject, visit=args.visit, operator=args.operator,
                                  site=settings.site, pattern=settings.subject_pattern,
                                  max_len=settings.subject_max_len)
    if not args.lsl:
        raise CliError("record needs at least one --lsl NAME")
    sources = [LslInletSource(LslInletConfig(lsl_name=name, resolve_timeout_s=args.resolve_timeout,
                                             seq_channel=args.seq_channel)) for name in args.lsl]
    # resolve every stream before claiming the visit: a typo must not leave an empty recording behind
    for src in sources:
        src.open()
    session = SessionManager.open(settings, ident, simulated=args.simulated)
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    for src in sources:
        session.add_source(src, opened=True)
    print(f"recording {', '.join(args.lsl)} into visit {ident.key}; Ctrl-C to stop", flush=True)
    stop.wait(args.duration if args.duration else None)
    print("stopping: sealing the visit file", flush=True)
    t_close = time.perf_counter()
    sealed = session.close()
    print(f"sealed: {sealed.path.resolve()}  (close took {time.perf_counter() - t_close:.3f} s)", flush=True)
    for name, q in sealed.qc["streams"].items():
        print(f"  {name}: received {q['received']}, missing {q['missing_by_seq']}, gaps {q['gaps']}")
    return 0


# -- inspect / verify / recover ----------------------------------------------------------------------------
def cmd_inspect(args: argparse.Namespace) -> int:
    from sessions.inspect import summary_lines

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    for line in summary_lines(path, events=args.events):
        print(line)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from acquisition.visitfile.manifest import MANIFEST_NAME, check_manifest
    from acquisition.visitfile.verify import verify_file

    target = Path(args.target)
    if target.is_dir():
        files = sorted(target.glob("*.h5"))
        problems = check_manifest(target) if (target / MANIFEST_NAME).exists() or files else []
        if not files:
            print(f"{target}: no visit files")
    elif target.is_file():
        files, problems = [target], []
        manifest_dir = target.parent
        if (manifest_dir / MANIFEST_NAME).exists():
            problems = [p for p in check_manifest(manifest_dir) if p.startswith(target.name + ":")]
        else:
            problems = [f"{target.name}: no {MANIFEST_NAME} beside it"]
    else:
        raise CliError(f"{target}: no such file or directory")
    bad = 0
    for f in files:
        rep = verify_file(f)
        status = "OK" if rep.ok else "FAILED"
        print(f"{status}  {f.name}  ({len(rep.streams)} streams, {sum(s.n_samples for s in rep.streams)} samples)")
        for p in rep.problems:
            print(f"    {p}")
        bad += not rep.ok
    for p in problems:
        print(f"MANIFEST  {p}")
    if bad or problems:
        print(f"verify: {bad} file(s) failed, {len(problems)} manifest problem(s)")
        return 1
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    from sessions.recover import recover_all

    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        raise CliError(f"{data_dir}: no such directory")
    sealed = recover_all(data_dir)
    if not sealed:
        print(f"{data_dir}: no open visit to recover")
    for s in sealed:
        print(f"recovered: {s.path}  sha256 {s.sha256}")
        for name, q in s.qc["streams"].items():
            print(f"  {name}: {q['received']} samples, missing {q['missing_by_seq']}")
    return 0


# -- simulate ------------------------------------------------------------------------------------------
_SIMULATORS = {
    "bitalino": ("drivers.emg.bitalino.simulate_cli", "main_simulate", False),
    "aurora": ("drivers.jaw.aurora.simulate_cli", "main_simulate", False),
    "balance-board": ("drivers.stabilometry.simulate_cli", "main_simulate", True),
    "cell-board": ("drivers.stabilometry.simulate_cli", "main_simulate", True),
    "scanner": ("drivers.scanner.simulate_cli", "main_simulate", False),
}


def cmd_simulate(args: argparse.Namespace, rest: Sequence[str]) -> int:
    import importlib

    mod_name, fn_name, takes_kind = _SIMULATORS[args.device]
    try:
        fn = getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as exc:
        raise CliError(f"simulator {args.device!r} is not available: {exc}", code=1) from None
    result = fn(args.device, list(rest)) if takes_kind else fn(list(rest))
    return int(result or 0)


# -- parser ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="amuse-acq", description="A-MUSE acquisition: record, seal and check visits")
    p.add_argument("--config", type=Path, help="TOML configuration file (defaults, then this, then AMUSE_* env)")
    p.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default from AMUSE_LOG_LEVEL or INFO)")
    sub = p.add_subparsers(dest="cmd", required=True)

    d = sub.add_parser("demo", help="record a whole simulated visit (about a minute) and seal it")
    d.add_argument("--subject", default=None, help="default: the first free SIM-NNN")
    d.add_argument("--visit", default="D0")
    d.add_argument("--operator", default="demo")
    d.add_argument("--data-dir", default=None, help="default ./data")
    d.add_argument("--site", default=None)
    d.add_argument("--speed", type=float, default=1.0,
                   help="speed-up factor of the device steps (default 1: about a minute in all)")

    r = sub.add_parser("record", help="record LSL stream(s) already on the network into a visit file")
    r.add_argument("--lsl", action="append", default=[], metavar="NAME", help="LSL stream name (repeatable)")
    r.add_argument("--subject", required=True)
    r.add_argument("--visit", required=True)
    r.add_argument("--operator", required=True)
    r.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = until Ctrl-C / SIGTERM")
    r.add_argument("--resolve-timeout", type=float, default=5.0)
    r.add_argument("--seq-channel", type=int, default=None, help="index of a sample-counter channel")
    r.add_argument("--simulated", action="store_true", help="mark the file as recorded from simulated sources")
    r.add_argument("--data-dir", default=None)
    r.add_argument("--site", default=None)

    i = sub.add_parser("inspect", help="streams, samples, duration, rates, gaps and QC of a visit file")
    i.add_argument("file")
    i.add_argument("--events", action="store_true", help="also list the events")

    v = sub.add_parser("verify", help="check visit file(s) against the schema, their hashes and the manifest")
    v.add_argument("target", help="a visit file or a data directory")

    rc = sub.add_parser("recover", help="seal visits left open by a crash")
    rc.add_argument("data_dir")

    s = sub.add_parser("simulate", help="run one device simulator alone; prints the path it serves first")
    s.add_argument("device", choices=sorted(_SIMULATORS))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.cmd != "simulate":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    # the demo talks to a person: its progress lines, and only warnings from the machinery
    configure(level=args.log_level or os.environ.get("AMUSE_LOG_LEVEL") or ("WARNING" if args.cmd == "demo" else None))
    from acquisition.source import SourceError
    from acquisition.visitfile.seal import SealError
    from sessions.manager import SessionError
    from sessions.subject import InvalidIdentifier
    from sessions.visit_store import VisitExists

    try:
        if args.cmd == "simulate":
            return cmd_simulate(args, rest)
        return {"demo": cmd_demo, "record": cmd_record, "inspect": cmd_inspect, "verify": cmd_verify,
                "recover": cmd_recover}[args.cmd](args)
    except CliError as exc:
        print(f"amuse-acq: error: {exc}", file=sys.stderr)
        return exc.code
    except (InvalidIdentifier, VisitExists) as exc:
        print(f"amuse-acq: refused: {exc}", file=sys.stderr)
        return 2
    except (SourceError, SessionError, SealError) as exc:
        print(f"amuse-acq: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("amuse-acq: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
