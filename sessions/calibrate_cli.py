"""`amuse-acq calibrate KIND`: run one calibration procedure on the configured device (or its simulator) and
append its record to the store, `DATA_DIR/calibration/` (calibration.store).

    amuse-acq calibrate plate-tare --operator tech1 --port /dev/ttyUSB0
    amuse-acq calibrate plate-mass --operator tech1 --simulate --sim-gain-error-pct 3,0,0,0

Output: one line with the result (passed, or FAILED and why), then the file the record was stored in. Exit codes
(`EXIT_*`), one meaning each:
- 0 passed (stored, in force);
- 3 failed: measured and out of tolerance; the failed record is stored (it is on the record that the device was
  out of tolerance, and it supersedes the previous record, so nothing is in force for that device until it passes
  again);
- 2 refused: the procedure could not be performed as asked (plate not empty, too noisy, bad options): nothing stored;
- 1 error: the device or the store failed: nothing stored.
The data directory and the store are checked before any device is opened.

The per-visit kinds (`PER_VISIT_KINDS`: jaw-reference, emg-noise) are measured on the patient and belong to that
visit: here they run as a check of the device (or simulator) and of the procedure, print their result and store
nothing (the visit runner records them into the visit, `SessionManager.record_calibration`); exit codes as above.

The kinds are the modules of `sessions.calibrate_kinds` named in `KIND_MODULES`; one not written yet is simply not
offered.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from sessions.calibrate_kinds.base import CalibrateCommand

#: one module per kind, in the order `calibrate --help` lists them
KIND_MODULES = ("plate_tare", "plate_mass", "emg_noise", "jaw_reference", "scanner_scale")
EXIT_PASSED, EXIT_ERROR, EXIT_REFUSED, EXIT_FAILED = 0, 1, 2, 3
EXIT_HELP = ("Exit 0: passed (record stored, in force); 3: failed (measured, out of tolerance; the failed record is "
             "stored, so nothing is in force for that device until it passes again); 2: refused (could not be "
             "performed as asked; nothing stored); 1: error (the device or the store failed; nothing stored). "
             "jaw-reference and emg-noise are measured on the patient for one visit: here they only check the "
             "device and store nothing (same exit codes).")


def available_commands() -> list[CalibrateCommand]:
    """The kinds whose module exists, each module's `COMMAND` (an error inside an existing module propagates)."""
    out = []
    for name in KIND_MODULES:
        full = f"sessions.calibrate_kinds.{name}"
        try:
            module = importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name == full:
                continue  # not written yet: not offered
            raise
        out.append(module.COMMAND)
    return out


def add_calibrate_parser(sub: Any, *, operator_help: str, config_help: str, kinds: bool = True) -> None:
    """Register `calibrate` on the `amuse-acq` sub-parsers; `kinds=False` leaves the kinds out (a command line
    without `calibrate` never parses them, and importing them is not free)."""
    c = sub.add_parser("calibrate", help="run a calibration procedure and store its record",
                       description="Run one calibration procedure on the device (or, with --simulate, on its "
                       "simulator with known true values) and append its record to DATA_DIR/calibration/. "
                       + EXIT_HELP)
    kind_parsers = c.add_subparsers(dest="kind", required=True, metavar="KIND")
    if not kinds:
        return
    for cmd in available_commands():
        kp = kind_parsers.add_parser(cmd.kind, help=cmd.help, description=cmd.help)
        _add_common(kp, cmd, operator_help=operator_help, config_help=config_help)


def _add_common(kp: argparse.ArgumentParser, cmd: CalibrateCommand, *, operator_help: str, config_help: str) -> None:
    kp.add_argument("--operator", required=True, help=f"{operator_help}: who performs it")
    kp.add_argument("--data-dir", default=None,
                    help="default from the configuration (data); the store is DATA_DIR/calibration/")
    kp.add_argument("--create-data-dir", action="store_true", help="create the data directory if missing")
    kp.add_argument("--simulate", action="store_true",
                    help="run on the device's simulator (known true values); the record says simulated")
    kp.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=config_help)
    cmd.add_arguments(kp)
    kp.set_defaults(calibrate_command=cmd)


def default_args(cmd: CalibrateCommand, *, operator: str, simulate: bool = True) -> argparse.Namespace:
    """The options `calibrate KIND --operator OPERATOR [--simulate]` would give, every other one at its default
    (what the demo runs each procedure with)."""
    kp = argparse.ArgumentParser(prog=f"calibrate {cmd.kind}")
    _add_common(kp, cmd, operator_help="operator", config_help="configuration")
    return kp.parse_args(["--operator", operator, *(["--simulate"] if simulate else [])])


def result_line(rec: Any) -> str:
    """`plate-tare passed: <model> s/n <serial> (simulated), in force until <utc>` or `... FAILED: <why>` (a
    per-visit kind is never in force from here: no `in force until`)."""
    from calibration.records import PER_VISIT_KINDS

    who = f"{rec.device_model or 'device'} s/n {rec.device_serial}" + (" (simulated)" if rec.simulated else "")
    if rec.passed:
        return f"{rec.kind} passed: {who}" + ("" if rec.kind in PER_VISIT_KINDS else
                                              f", in force until {rec.expires_utc}")
    return f"{rec.kind} FAILED: {who}: {'; '.join(rec.reasons)}"


def cmd_calibrate(args: argparse.Namespace) -> int:
    from calibration.records import PER_VISIT_KINDS, CalibrationRefused
    from calibration.store import CalibrationStore, CalibrationStoreError
    from sessions.calibrate_kinds.base import CalibrationContext
    from sessions.cli import CliError, _settings
    from sessions.data_dir import prepare_data_dir
    from sessions.subject import validate_operator

    command: CalibrateCommand = args.calibrate_command
    settings = _settings(args)
    operator = validate_operator(args.operator)
    if settings.production and args.simulate:
        raise CliError(f"calibrate {command.kind}: production mode refuses a simulated device (--simulate)")
    per_visit = command.kind in PER_VISIT_KINDS
    store = CalibrationStore(settings.data_dir)
    if not per_visit:  # a check that stores nothing needs no data directory
        prepare_data_dir(settings.data_dir, create=settings.create_data_dir)
        try:
            store.records()  # a damaged store is said before a technician spends ten minutes on a procedure
        except CalibrationStoreError as exc:
            raise CliError(str(exc), code=EXIT_ERROR) from None

    def say(line: str) -> None:
        print(line, flush=True)

    ctx = CalibrationContext(settings=settings, operator=operator, simulate=args.simulate, say=say)
    try:
        record = command.run(args, ctx)
    except CalibrationRefused as exc:
        raise CliError(f"calibrate {command.kind} refused: {exc}") from None
    except EOFError:
        raise CliError(f"calibrate {command.kind}: the procedure needs the technician at the terminal (no input; "
                       "or run with --simulate)") from None
    if per_visit:
        print(result_line(record), flush=True)
        print(f"not stored: {command.kind} is measured on the patient for one visit; the visit runner records it "
              "into the visit (SessionManager.record_calibration)", flush=True)
        return EXIT_PASSED if record.passed else EXIT_FAILED
    try:
        stored, path = store.append(record)
    except CalibrationStoreError as exc:
        raise CliError(str(exc), code=EXIT_ERROR) from None
    print(result_line(stored), flush=True)
    print(f"stored: {path.resolve()}" + (f" (supersedes {stored.supersedes})" if stored.supersedes else ""),
          flush=True)
    return EXIT_PASSED if stored.passed else EXIT_FAILED

