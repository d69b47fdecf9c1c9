"""The argument parser of `amuse-acq`: every command and its options, each checked before anything runs.

Each `simulate DEVICE` is a real sub-command whose options the simulator module registers itself
(`add_arguments`), so `amuse-acq simulate DEVICE --help` lists them and a wrong one is refused in one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drivers.common.sim_cli import SimCommand

#: the options that override a setting, by setting (`amuse-acq config` names them as the origin)
SETTING_OPTIONS = {"data_dir": "--data-dir", "site": "--site", "create_data_dir": "--create-data-dir"}


def _simulators() -> list[SimCommand]:
    """Every `amuse-acq simulate DEVICE`, each registering its own options (`simulate DEVICE --help`)."""
    from drivers.emg.bitalino import simulate_cli as bitalino
    from drivers.jaw.aurora import simulate_cli as aurora
    from drivers.scanner import simulate_cli as scanner
    from drivers.stabilometry import simulate_cli as plates

    return sorted((*bitalino.COMMANDS, *aurora.COMMANDS, *plates.COMMANDS, *scanner.COMMANDS), key=lambda c: c.name)


def build_parser(*, simulators: bool = True, calibrate_kinds: bool = True) -> argparse.ArgumentParser:
    """The whole parser. `simulators=False` leaves the `simulate DEVICE` sub-commands out: importing the four
    simulator modules costs ~0.12 CPU-s, paid by every `record` for nothing (measured with
    bench/record_throughput.py at m = 1); `main` asks for them only when the command line may need them.
    `calibrate_kinds=False` likewise leaves out the `calibrate KIND` sub-commands (their modules import numpy and
    the calibration procedures, ~0.2 s)."""
    from acquisition.config import DEFAULT_SITE_PATTERN, DEFAULT_SUBJECT_PATTERN
    from sessions.cli_args import (OneLineParser, channel_index, duration_seconds, log_level, lsl_name,
                                   positive_seconds, speed_factor)
    from sessions.subject import describe_subject_pattern, visit_codes_help

    subject_help = f"subject pseudonym: {describe_subject_pattern(DEFAULT_SUBJECT_PATTERN)} (setting subject_pattern)"
    visit_help = f"visit code: one of {visit_codes_help()}"
    operator_help = "operator's login: 1-32 ASCII letters, digits, '_', '.', '-'"
    site_help = f"site code written into the file: 2-16 capital letters or digits ({DEFAULT_SITE_PATTERN}, setting " \
                "site_pattern); default from the configuration (SIM)"
    create_help = "create the data directory (and its parents) if missing; without it a missing data directory " \
                  "is refused (an unmounted data disk must not put visits on the system disk)"

    p = OneLineParser(prog="amuse-acq", description="A-MUSE acquisition: record, seal and check visits")
    config_help = "TOML configuration file (defaults, then this file, then AMUSE_* environment, then options)"
    p.add_argument("--config", type=Path, help=config_help)
    p.add_argument("--log-level", default=None, type=log_level,
                   help="DEBUG, INFO, WARNING, ERROR (default from AMUSE_LOG_LEVEL or INFO)")
    sub = p.add_subparsers(dest="cmd", required=True)

    d = sub.add_parser("demo", help="record a whole simulated visit (about a minute) and seal it",
                       description="Record a whole simulated visit and seal it. SIGTERM or Ctrl-C stops it: the "
                       "current step ends, the visit is sealed with what was recorded (event visit.stopped), the "
                       "sealed path is printed and the exit code is 143 (SIGTERM) or 130 (Ctrl-C).")
    d.add_argument("--subject", default=None, help=f"default: the first free SIM-NNN; else a {subject_help}")
    d.add_argument("--visit", default="D0", help=f"{visit_help} (default D0)")
    d.add_argument("--operator", default="demo", help=f"{operator_help} (default demo)")
    d.add_argument("--data-dir", default=None,
                   help="default ./data (the demo creates ./data itself; any other missing directory needs "
                        "--create-data-dir)")
    d.add_argument("--create-data-dir", action="store_true", help=create_help)
    d.add_argument("--site", default=None, help=site_help)
    d.add_argument("--speed", type=speed_factor, default=1.0,
                   help="speed-up factor > 0 of the device steps (default 1: about a minute in all)")

    r = sub.add_parser("record", help="record LSL stream(s) already on the network into a visit file",
                       description="Record LSL streams into a visit file. Every argument, the data directory and "
                       "the visit (not yet sealed or open) are checked before any stream is resolved and before "
                       "the visit is claimed. SIGTERM or Ctrl-C stops and seals.")
    r.add_argument("--lsl", action="append", default=[], metavar="NAME", type=lsl_name,
                   help="LSL stream name (repeatable; each stream once)")
    r.add_argument("--subject", required=True, help=subject_help)
    r.add_argument("--visit", required=True, help=visit_help)
    r.add_argument("--operator", required=True, help=operator_help)
    r.add_argument("--duration", type=duration_seconds, default=0.0,
                   help="seconds > 0; 0 (the default) = until Ctrl-C / SIGTERM; negative is refused")
    r.add_argument("--resolve-timeout", type=positive_seconds, default=5.0,
                   help="seconds > 0 to find each stream (default 5)")
    r.add_argument("--seq-channel", type=channel_index, default=None,
                   help="index (>= 0) of a sample-counter channel")
    r.add_argument("--simulated", action="store_true", help="mark the file as recorded from simulated sources")
    r.add_argument("--data-dir", default=None, help="default from the configuration (data); must exist")
    r.add_argument("--create-data-dir", action="store_true", help=create_help)
    r.add_argument("--site", default=None, help=site_help)

    i = sub.add_parser("inspect", help="streams, samples, duration, rates, gaps and QC of a visit file")
    i.add_argument("file")
    i.add_argument("--events", action="store_true", help="also list the events")

    v = sub.add_parser("verify", help="check visit file(s) against the schema, their hashes and the manifest")
    v.add_argument("target", help="a visit file or a data directory")

    rc = sub.add_parser("recover", help="seal visits left open by a crash")
    rc.add_argument("data_dir")

    a = sub.add_parser("abandon", help="set an open (unsealed) visit aside, on the record, so it can be recorded again",
                       description="Move DATA_DIR/.open/<SUBJECT>_<VISIT>/ to DATA_DIR/.abandoned/<key>.<utc>/ with "
                       "an ABANDONED.json record (who, when, why, what it held) and append one line to "
                       "DATA_DIR/ABANDONED.log. Nothing is deleted. A sealed visit, or one being recorded or "
                       "recovered right now, is refused.")
    a.add_argument("data_dir")
    a.add_argument("--subject", required=True, help=subject_help)
    a.add_argument("--visit", required=True, help=visit_help)
    a.add_argument("--operator", required=True, help=f"{operator_help}: who abandons it")
    a.add_argument("--reason", required=True, help="why, in one line (3-500 characters; no patient names)")

    c = sub.add_parser("config", help="print the effective settings as JSON, and where each came from",
                       description="Print the settings a command would use, as JSON: for each its value and "
                       "where it came from (default, file, env, command line), with the file, the variable or "
                       "the option. Ranked: the command line beats AMUSE_* variables, which beat the file.")
    c.add_argument("--data-dir", default=None, help="as the other commands' --data-dir")
    c.add_argument("--create-data-dir", action="store_true", help="as the other commands' --create-data-dir")
    c.add_argument("--site", default=None, help=site_help)
    for cmd_parser in (d, r, a, c):  # `--config FILE` after the command too; it then wins over one given before
        cmd_parser.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=config_help)

    from sessions.calibrate_cli import add_calibrate_parser
    from sessions.replay_cli import add_replay_parsers
    from sessions.visits_cli import add_visits_parser

    add_replay_parsers(sub, subject_help=subject_help, visit_help=visit_help, operator_help=operator_help,
                       config_help=config_help)
    add_calibrate_parser(sub, operator_help=operator_help, config_help=config_help, kinds=calibrate_kinds)
    from sessions.audit_cli import add_audit_parser

    add_audit_parser(sub)
    from sessions.rig_cli import add_rig_parser

    add_rig_parser(sub)
    add_visits_parser(sub, subject_help=subject_help, config_help=config_help)
    from sessions.visit_cli import add_visit_parser

    add_visit_parser(sub, subject_help=subject_help, visit_help=visit_help, operator_help=operator_help,
                     config_help=config_help)

    s = sub.add_parser("simulate", help="run one device simulator alone; prints the path it serves first",
                       description="Run one device simulator alone until SIGINT/SIGTERM. Its first line is the "
                       "path it serves. `amuse-acq simulate DEVICE --help` lists the device's options; the same "
                       "option has the same name on every device (--fault, --fault-every, --drift-ppm, --seed...).")
    devices = s.add_subparsers(dest="device", required=True, metavar="DEVICE")
    for sim in _simulators() if simulators else ():
        dp = devices.add_parser(sim.name, help=sim.help, description=sim.description)
        sim.add_arguments(dp)
        dp.set_defaults(simulator=sim)
    return p
