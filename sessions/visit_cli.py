"""`amuse-acq visit run`: the technician's visit on the rig, step by step (or `--auto`), to the sealed file.

    amuse-acq visit run --rig FILE --subject ID --visit CODE --operator LOGIN [--protocol FILE] [--override REASON]
                        [--auto [--speed F] [--override-gate GATE=REASON ...]] [--data-dir DIR]

Everything that can refuse the visit is checked before it is claimed: the identity, the rig file, the protocol
file, the data directory, the visit window (`--override REASON` lets an overridable refusal through, recorded in
the file and the audit trail). Then `sessions.visit_run.run_visit` does the rest with the terminal's technician
(`visit_prompt`) or the automatic operator (`visit_auto`). SIGTERM or Ctrl-C aborts the visit: what was recorded is
sealed with the reason, the sealed path is printed, exit 143 / 130. Errors are one line (`sessions.cli`).
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import Any


def gate_override(text: str) -> tuple[str, str]:
    """argparse `type=` of `--override-gate GATE=REASON`."""
    from sessions.preflight.result import GATES

    gate, sep, reason = text.partition("=")
    if not sep or gate not in GATES:
        raise argparse.ArgumentTypeError(f"expected GATE=REASON with GATE one of {', '.join(GATES)}, got {text!r}")
    if len(reason.strip()) < 3:
        raise argparse.ArgumentTypeError(f"--override-gate {gate}: the reason must say why (at least 3 characters)")
    return gate, reason.strip()


def add_visit_parser(sub: Any, *, subject_help: str = "", visit_help: str = "", operator_help: str = "",
                     config_help: str = "") -> None:
    """Register `visit run` on the `amuse-acq` sub-parsers."""
    from sessions.cli_args import speed_factor
    from sessions.rig_cli import DEFAULT_RIG_FILE
    from sessions.visits_cli import add_override_argument

    v = sub.add_parser("visit", help="run a visit on the rig: pre-flight, the protocol's steps, QC, sign-off, seal")
    vs = v.add_subparsers(dest="visit_cmd", required=True, metavar="COMMAND")
    r = vs.add_parser("run", help="walk the technician through the visit's steps (or --auto), then seal",
                      description="Check the visit window, open the visit with the protocol, run the pre-flight "
                      "gates on the rig's devices (a failed gate blocks unless overridden), walk the protocol's "
                      "steps (live view, QC verdict, accept / repeat / note / skip), sign off and seal. --auto: no "
                      "prompts; each device step runs its nominal duration / --speed, a failed QC is repeated "
                      "once then accepted with the reason 'auto: QC failed twice'. SIGTERM or Ctrl-C aborts the "
                      "visit and seals what was recorded (exit 143 / 130). docs/protocol.md.")
    r.add_argument("--rig", type=Path, default=DEFAULT_RIG_FILE, metavar="FILE",
                   help=f"the rig file (default ./{DEFAULT_RIG_FILE}; docs/rig.md)")
    r.add_argument("--subject", required=True, help=subject_help)
    r.add_argument("--visit", required=True, help=visit_help)
    r.add_argument("--operator", required=True, help=operator_help)
    r.add_argument("--protocol", type=Path, default=None, metavar="FILE",
                   help="a site's protocol file (default the shipped A-MUSE protocol; docs/protocol.md)")
    add_override_argument(r)
    r.add_argument("--auto", action="store_true", help="no prompts: the automatic operator (tests, CI)")
    r.add_argument("--speed", type=speed_factor, default=1.0,
                   help="--auto: divide each device step's nominal duration by this factor (default 1)")
    r.add_argument("--override-gate", action="append", type=gate_override, default=[], metavar="GATE=REASON",
                   help="--auto: override this pre-flight gate if it fails, with this reason (repeatable)")
    r.add_argument("--data-dir", default=None, help="default from the configuration (data); must exist")
    r.add_argument("--create-data-dir", action="store_true", help="create the data directory if missing")
    r.add_argument("--site", default=None, help="site code written into the file (default from the configuration)")
    r.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=config_help)


def cmd_visit(args: argparse.Namespace) -> int:
    from sessions.cli import CliError, settings_for
    from sessions.data_dir import prepare_data_dir
    from sessions.protocol import ProtocolError, default_protocol, load_protocol
    from sessions.rig.build import build_sources
    from sessions.rig.config import RigConfigError, load_rig
    from sessions.subject import VisitIdentity
    from sessions.visit_calibration import records_in_force
    from sessions.visit_run import StopRequest, check_window, run_visit
    from sessions.visits_cli import override_from_args

    settings = settings_for(args)
    ident = VisitIdentity.checked(subject=args.subject, visit=args.visit, operator=args.operator, site=settings.site,
                                  pattern=settings.subject_pattern, max_len=settings.subject_max_len,
                                  site_pattern=settings.site_pattern)
    if not args.auto and (args.override_gate or args.speed != 1.0):
        raise CliError("--override-gate and --speed are for --auto; at the terminal you are asked")
    try:
        rig_cfg = load_rig(args.rig)
        protocol = load_protocol(args.protocol) if args.protocol is not None else default_protocol()
    except (RigConfigError, ProtocolError) as exc:
        raise CliError(str(exc)) from None
    prepare_data_dir(settings.data_dir, create=settings.create_data_dir)
    decision = check_window(settings, ident, override=override_from_args(args, ident.operator))
    if decision.overridden:
        print(f"visit window: {decision.verdict.message}; overridden by {ident.operator}: "
              f"{decision.override.reason if decision.override else ''}", flush=True)
    calibration = records_in_force(settings.data_dir, simulated=rig_cfg.simulated)
    rig = build_sources(rig_cfg)  # right before opening: a port given by USB serial is looked up now
    stop = StopRequest()
    operator: Any
    if args.auto:
        from sessions.visit_auto import AutoOperator

        operator = AutoOperator(speed=args.speed, gate_overrides=dict(args.override_gate))
    else:
        from sessions.visit_prompt import PromptOperator

        operator = PromptOperator(stop=stop)  # a prompt waiting for an answer gives up on SIGTERM / Ctrl-C
    codes = {"SIGTERM": 128 + signal.SIGTERM, "SIGINT": 128 + signal.SIGINT}
    previous = {sig: signal.signal(sig, lambda signum, _f: stop.request(signal.Signals(signum).name))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    print(f"visit {ident.key}: rig {rig_cfg.name}{' (simulated)' if rig.simulated else ''}, protocol "
          f"{protocol.label()}, into {settings.data_dir}", flush=True)
    try:
        sealed = run_visit(settings, ident, rig=rig, protocol=protocol, operator=operator, decision=decision,
                           calibration=calibration, stop=stop, say=lambda line: print(line, flush=True))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"sealed: {sealed.path.resolve()}", flush=True)
    print(f"sha256: {sealed.sha256}")
    return codes.get(stop.reason, 1) if stop.is_set() else 0


def run_cli(args: argparse.Namespace) -> int:
    """`amuse-acq visit COMMAND`."""
    from sessions.visit_run import PreflightBlocked

    try:
        return cmd_visit(args)
    except PreflightBlocked as exc:
        from sessions.cli import CliError

        raise CliError(f"pre-flight blocked, visit aborted and sealed: {exc}", code=1) from None
