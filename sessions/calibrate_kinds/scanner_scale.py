"""`amuse-acq calibrate scanner-scale`: scale error of the facial scanner from a capture of a reference object.

The technician scans the site's reference object (settings `calibration.scanner_scale`: a sphere of certified
diameter or a gauge block; `--reference`, `--diameter-mm`, `--block-mm` override) and exports it into the
scanner's export folder (`--folder`). The scanner driver (`ScannerSource`: USB identity pre-flight, folder watch,
parse, validate) ingests it as it would a face, with limits for an object rather than a face (an object may be
smaller than a face: 10 mm and up; its scan's rim is short), and `calibration.scanner_scale` fits and judges it.
A capture the driver rejects (a truncated file, NaN...) refuses the procedure, naming the problem. So does an
export folder that already holds files when the procedure starts (an earlier face or reference capture not yet
processed): the capture measured must be the one made after the prompt, so the folder must be empty then.
A reference object has no face condition: the driver's `scan.unassigned` (a warning for a visit's scan) is not
raised for it.

With `--simulate`, the scanner simulator writes the capture into a folder of its own, behind a simulated USB
scanner; `--sim-scale-error 2.0` makes it a scanner 2 % off (the procedure fails it).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from acquisition.source import SourceError
from calibration.records import CalibrationRecord, CalibrationRefused
from calibration.scanner_scale import BlockReference, SphereReference, assess_scanner_scale, reference_of
from sessions.calibrate_kinds.base import CalibrateCommand, CalibrationContext


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of mm, got {text!r}")
    return v


def _block(text: str) -> tuple[float, float, float]:
    parts = text.split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected three edge lengths A,B,C in mm, got {text!r}")
    return tuple(_positive(p) for p in parts)  # type: ignore[return-value]


def _pct(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not (math.isfinite(v) and -20 < v < 20):
        raise argparse.ArgumentTypeError(f"expected a scale error in % within (-20, 20), got {text!r}")
    return v


def _usb_id(text: str) -> tuple[int, int]:
    vid, sep, pid = text.partition(":")
    try:
        ids = (int(vid, 16), int(pid, 16))
    except ValueError:
        ids = (-1, -1)
    if not sep or not all(0 <= i <= 0xFFFF for i in ids):
        raise argparse.ArgumentTypeError(f"expected a USB id VID:PID in hex (e.g. 1209:0001), got {text!r}")
    return ids


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--folder", type=Path, default=None, help="the scanner's export folder (required on a device)")
    p.add_argument("--reference", choices=("sphere", "block"), default=None,
                   help="the reference object (default from the settings: sphere)")
    p.add_argument("--diameter-mm", type=_positive, default=None, help="the sphere's certified diameter (mm)")
    p.add_argument("--block-mm", type=_block, default=None, metavar="A,B,C",
                   help="the gauge block's certified edge lengths (mm)")
    p.add_argument("--usb-id", type=_usb_id, default=None, metavar="VID:PID",
                   help="the scanner's USB id checked before the capture (default: the driver's)")
    p.add_argument("--no-usb-check", action="store_true",
                   help="no USB identity check (a scanner exporting over the network): give --scanner-serial")
    p.add_argument("--scanner-serial", default=None, help="serial recorded with --no-usb-check")
    p.add_argument("--sim-scale-error", type=_pct, default=0.0, metavar="PCT",
                   help="with --simulate: the simulated scanner is PCT %% off (default 0)")


def _reference(args: argparse.Namespace, ctx: CalibrationContext) -> SphereReference | BlockReference:
    cfg = ctx.settings.calibration.scanner_scale
    update = {k: v for k, v in (("reference", args.reference), ("diameter_mm", args.diameter_mm),
                                ("block_mm", args.block_mm)) if v is not None}
    return reference_of(cfg.model_copy(update=update) if update else cfg)


def _describe(ref: SphereReference | BlockReference) -> str:
    if isinstance(ref, SphereReference):
        return f"the reference sphere ({ref.diameter_mm:g} mm)"
    return f"the gauge block ({' x '.join(f'{s:g}' for s in ref.size_mm)} mm)"


def unprocessed_files(folder: Path) -> int:
    """How many files sit in the export folder itself (not in its ingested/rejected sub-folders; hidden files such
    as `.DS_Store` are not exports)."""
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        raise SourceError(f"scanner export folder {folder}: {exc.strerror or exc}") from None
    return sum(1 for e in entries if not e.name.startswith(".") and e.is_file(follow_symlinks=False))


def check_folder_clear(scanner: Any) -> None:
    """CalibrationRefused if the export folder holds files before the technician is asked to scan (never naming
    them: a vendor file name may be the patient's)."""
    n = unprocessed_files(Path(scanner.config.watch.folder))
    if n:
        files, them = ("1 file", "it") if n == 1 else (f"{n} files", "them")
        raise CalibrationRefused(f"the scanner's export folder already holds {files} not yet processed: move {them} "
                                 "out of the folder first, so that the capture measured is the one made now")


def wait_for_capture(scanner: Any, timeout_s: float, *, poll_s: float = 0.2,
                     clock: Callable[[], float] = time.monotonic) -> Any:
    """The first mesh capture the opened `scanner` ingests within `timeout_s`; a rejected capture or none in
    time is `CalibrationRefused` (the problem named by the driver, aliases only)."""
    deadline = clock() + timeout_s
    while True:
        for cap in scanner.poll():
            if cap.condition != "photo":
                return cap
        for ev in scanner.drain_events():
            if ev.name == "scan.rejected":
                raise CalibrationRefused(f"the capture was rejected: {ev.payload.get('file')}: "
                                         f"{ev.payload.get('problem')}")
        if clock() >= deadline:
            raise CalibrationRefused(f"no capture arrived in the export folder within {timeout_s:g} s")
        time.sleep(poll_s)


def perform(scanner: Any, ref: SphereReference | BlockReference, ctx: CalibrationContext, *,
            do_scan: Callable[[str], None], serial: str | None = None) -> CalibrationRecord:
    cfg = ctx.settings.calibration.scanner_scale
    ident = scanner.identity
    check_folder_clear(scanner)
    do_scan(f"Scan {_describe(ref)} and export it into the scanner's folder")
    cap = wait_for_capture(scanner, cfg.capture_timeout_s)
    ctx.say(f"scanner-scale: capture of {len(cap.vertices)} vertices ({cap.mesh_format})")
    result = assess_scanner_scale(cap.vertices, cap.faces, ref, settings=cfg)
    return result.to_record(kind="scanner-scale", device_serial=serial or ident.serial, device_model=ident.model,
                            performed_by=ctx.operator, valid_for=cfg.valid_for,
                            simulated=ctx.simulate or ident.simulated,
                            values={"capture_sha256": [f.sha256 for f in cap.source_files if f.role == "mesh"]})


def _source(folder: Path, *, usb: Any, backend: Any = None, simulated: bool) -> Any:
    from drivers.scanner.folder_watch import WatchConfig
    from drivers.scanner.source import ScannerConfig, ScannerSource
    from drivers.scanner.validate import ValidationLimits

    class ReferenceScanner(ScannerSource):
        """The driver, without `scan.unassigned`: a reference object has no face condition, and the warning would
        reach the technician's terminal on every capture. (Overrides the driver's one event hook, `_event`; the
        test of this kind fails if it is renamed.)"""

        def _event(self, name: str, payload: dict[str, Any], **kw: Any) -> None:
            if name != "scan.unassigned":
                super()._event(name, payload, **kw)

    # an object, not a face: smaller than a face is fine, and its scan's rim is short
    limits = ValidationLimits(min_extent_mm=10.0, rim_min_perimeter_mm=30.0)
    return ReferenceScanner(ScannerConfig(name="scanner", watch=WatchConfig(folder=folder, poll_interval_s=0.1,
                                                                         reject_grace_s=2.0),
                                       limits=limits, usb=usb, simulated=simulated), usb_backend=backend)


def run(args: argparse.Namespace, ctx: CalibrationContext) -> CalibrationRecord:
    from drivers.scanner.usb_identity import UsbExpectation

    ref = _reference(args, ctx)
    if not ctx.simulate:
        if args.sim_scale_error:
            raise SourceError("scanner-scale: --sim-scale-error needs --simulate")
        if args.folder is None:
            raise SourceError("scanner-scale: give --folder (the scanner's export folder)")
        if args.no_usb_check and not args.scanner_serial:
            raise SourceError("scanner-scale: --no-usb-check needs --scanner-serial (the record names the scanner)")
        usb = None if args.no_usb_check else (
            UsbExpectation(vid=args.usb_id[0], pid=args.usb_id[1]) if args.usb_id else UsbExpectation())
        scanner = _source(args.folder, usb=usb, simulated=False)
        scanner.open()
        try:
            return perform(scanner, ref, ctx, do_scan=ctx.prompt, serial=args.scanner_serial)
        finally:
            scanner.close()
    return _run_simulated(args, ctx, ref)


def _run_simulated(args: argparse.Namespace, ctx: CalibrationContext,
                   ref: SphereReference | BlockReference) -> CalibrationRecord:
    from drivers.scanner.simulator import ScannerSimulator
    from drivers.scanner.usb_identity import UsbExpectation
    from drivers.scanner.usb_sim_backend import SimUsbBackend, SimUsbDevice

    folder = Path(tempfile.mkdtemp(prefix="amuse-scanner-scale-"))
    try:
        sim = ScannerSimulator(folder, seed=int(ctx.extra.get("seed", 0)), write_mode="part",
                               scale_error_pct=args.sim_scale_error)
        scanner = _source(folder, usb=UsbExpectation(), backend=SimUsbBackend([SimUsbDevice()]), simulated=True)
        scanner.open()

        def scan(text: str) -> None:
            ctx.say(f"(simulated) {text}")
            if isinstance(ref, SphereReference):
                sim.write_reference("sphere", diameter_mm=ref.diameter_mm)
            else:
                sim.write_reference("block", size_mm=ref.size_mm)

        try:
            return perform(scanner, ref, ctx, do_scan=scan)
        finally:
            scanner.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


COMMAND = CalibrateCommand(kind="scanner-scale", help="scale error of the facial scanner from a capture of a "
                           "reference object of known size", add_arguments=add_arguments, run=run)
