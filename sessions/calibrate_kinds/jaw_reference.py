"""`amuse-acq calibrate jaw-reference`: incisal offset (pointer on the incisal point) and ICP, on the patient.

Against the NDI tracker at `--port` (default /dev/aurora) with three tools: the head reference sensor, the
mandibular sensor and a pointer whose tip `--pointer-tip-mm` is given in its own frame (from its tool definition).
Tools are told apart by `--head-tool-serial` / `--jaw-tool-serial` / `--pointer-serial`, or else by port handle
order (head, jaw, pointer: the driver's convention). The tracker is polled by the driver's own polling process
(`TxPoller`), which hands over every reply with all its tools; `calibration.jaw_reference` computes and judges.

The record is per visit (`PER_VISIT_KINDS`): captured at the start of the jaw battery, stored in the visit file by
the visit runner (`SessionManager.record_calibration`); `amuse-acq calibrate jaw-reference` only checks the
tracker and the procedure, and stores nothing.

With `--simulate`, a wire-level Aurora simulator with a pointer plays the patient, with known truth (incisal offset
(0, 15, 25) mm in the mandibular-sensor frame, ICP (0, -70, 85) mm in the head frame): `--sim-pointer-slip MM`
makes the tip wander on the tooth, `--sim-not-in-icp` a patient who opens during the ICP hold (both fail).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from acquisition.clock import local_clock
from acquisition.source import SourceError
from calibration.jaw_reference import ToolTrack, assess_jaw_reference
from calibration.records import CalibrationRecord, CalibrationRefused
from sessions.calibrate_kinds.base import CalibrateCommand, CalibrationContext

SIM_INCISAL_OFFSET_MM = (0.0, 15.0, 25.0)
SIM_ICP_MM = (0.0, -70.0, 85.0)
SIM_POINTER_TIP_MM = (0.0, 0.0, 110.0)
POINTER = "Hold the pointer tip on the lower incisal point (between the central incisors), mouth slightly open, still"
ICP = "Pointer away; the subject closes the teeth together (maximal intercuspation) and holds still"
ROLES = ("head", "jaw", "pointer")


def _vec3(text: str) -> tuple[float, float, float]:
    parts = text.split(",")
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) != 3 or not all(math.isfinite(v) for v in vals):
        raise argparse.ArgumentTypeError(f"expected three numbers X,Y,Z in mm, got {text!r}")
    return vals  # type: ignore[return-value]


def _mm(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not (math.isfinite(v) and 0 <= v <= 20):
        raise argparse.ArgumentTypeError(f"expected a distance of 0-20 mm, got {text!r}")
    return v


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", default="/dev/aurora", help="the tracker's serial path (default /dev/aurora)")
    p.add_argument("--pointer-tip-mm", type=_vec3, default=None, metavar="X,Y,Z",
                   help="the pointer's tip in its own frame, mm (from its tool definition); required on a device")
    for role in ROLES:
        p.add_argument(f"--{role}-tool-serial" if role != "pointer" else "--pointer-serial", default=None,
                       dest=f"{role}_serial", help=f"PHINF serial of the {role} tool (default: port handle order)")
    p.add_argument("--sim-pointer-slip", type=_mm, default=0.0, metavar="MM",
                   help="with --simulate: the pointer tip wanders this far on the tooth")
    p.add_argument("--sim-not-in-icp", action="store_true",
                   help="with --simulate: the patient opens the mouth during the ICP hold")


def _handles(tools: dict[int, Any], args: argparse.Namespace) -> dict[str, int]:
    """Role -> port handle: by the serials given, else by handle order."""
    wanted = {r: getattr(args, f"{r}_serial") for r in ROLES}
    if any(wanted.values()):
        if not all(wanted.values()):
            raise SourceError("jaw-reference: give the serials of all three tools (head, jaw, pointer) or none")
        by_serial = {t.serial: h for h, t in tools.items()}
        missing = [s for s in wanted.values() if s not in by_serial]
        if missing:
            raise SourceError(f"NDI tracker: tool serial(s) {missing} not plugged; found tools {sorted(by_serial)}")
        return {r: by_serial[s] for r, s in wanted.items()}
    handles = sorted(tools)
    if len(handles) != 3:
        raise SourceError(f"NDI tracker: jaw-reference needs 3 tools (head reference, mandible, pointer), found "
                          f"{len(handles)}")
    return dict(zip(ROLES, handles, strict=True))


def tracks(replies: list[Any], handles: dict[str, int], roles: tuple[str, ...]) -> dict[str, ToolTrack]:
    """The `roles`' tracks over TX replies (`drivers.jaw.aurora.codec.TxReply`, raw protocol integers)."""
    out: dict[str, ToolTrack] = {}
    for role in roles:
        q = np.zeros((len(replies), 4))
        t = np.zeros((len(replies), 3))
        err = np.zeros(len(replies))
        ok = np.zeros(len(replies), dtype=bool)
        for i, rep in enumerate(replies):
            rec = rep.tool(handles[role])
            if rec is not None and rec.state == "ok" and rec.q is not None and rec.t is not None:
                q[i], t[i] = np.asarray(rec.q) * 1e-4, np.asarray(rec.t) * 0.01
                err[i] = (rec.error or 0) * 1e-4
                ok[i] = True
        q[~ok, 0] = 1.0  # a unit quaternion where the tool was missing (never used: `valid` is False)
        out[role] = ToolTrack(q=q, t=t, valid=ok, error=err)
    return out


def _collect(poller: Any, seconds: float, start_after: float, clock: Callable[[], float]) -> list[Any]:
    """TX replies read after `start_after` until `seconds` later (each frame once)."""
    from drivers.jaw.aurora.tracker import Reply

    end = start_after + seconds
    got: list[Any] = []
    seen: set[int] = set()
    while clock() < end + 0.1:
        poller.wait(0.05)
        for it in poller.take():
            if isinstance(it, Reply) and start_after <= it.t_read <= end and it.reply.frame not in seen:
                seen.add(it.reply.frame)
                got.append(it.reply)
        if not poller.alive:
            raise SourceError(f"NDI tracker: the polling process ended (exit code {poller.exitcode})")
    return got


def perform(poller: Any, info: Any, args: argparse.Namespace, ctx: CalibrationContext, *, tip_mm: Any,
            do_pointer: Callable[[], None], do_icp: Callable[[], None],
            clock: Callable[[], float] = local_clock) -> CalibrationRecord:
    cfg = ctx.settings.calibration.jaw_reference
    handles = _handles(info.tools, args)
    ctx.say(f"jaw-reference: NDI {info.model} s/n {info.serial}, tools "
            + ", ".join(f"{r} {h:02X} ({info.tools[h].serial})" for r, h in handles.items()))
    do_pointer()
    first = _collect(poller, cfg.capture_s, clock() + cfg.settle_s, clock)
    do_icp()
    second = _collect(poller, cfg.capture_s, clock() + cfg.settle_s, clock)
    if not first or not second:
        raise CalibrationRefused(f"no tracking replies during {'the pointer' if not first else 'the ICP'}"
                                 " capture")
    a = tracks(first, handles, ("jaw", "pointer"))
    b = tracks(second, handles, ("head", "jaw"))
    result = assess_jaw_reference(pointer_capture=(a["jaw"], a["pointer"]), icp_capture=(b["head"], b["jaw"]),
                                  pointer_tip_mm=tip_mm, settings=cfg)
    return result.to_record(
        kind="jaw-reference", device_serial=info.serial, device_model=f"NDI {info.model}", performed_by=ctx.operator,
        valid_for=cfg.valid_for, simulated=ctx.simulate,
        values={"tools": {r: info.tools[h].serial for r, h in handles.items()}})


def _open(path: str, *, simulated: bool) -> tuple[Any, Any]:
    from drivers.jaw.aurora.config import AuroraConfig
    from drivers.jaw.aurora.poller import TxPoller

    # the offset and ICP are what is being measured: the source's own geometry is not used here
    cfg = AuroraConfig(path=path, incisal_offset_mm=(0.0, 0.0, 0.0), simulated=simulated)
    poller = TxPoller(path, cfg, name="aurora-calibrate")
    return poller, poller.start()


def run(args: argparse.Namespace, ctx: CalibrationContext) -> CalibrationRecord:
    import os

    if not ctx.simulate:
        if args.sim_pointer_slip or args.sim_not_in_icp:
            raise SourceError("jaw-reference: --sim-pointer-slip and --sim-not-in-icp need --simulate")
        if args.pointer_tip_mm is None:
            raise SourceError("jaw-reference: give --pointer-tip-mm X,Y,Z (the pointer's tip in its own frame, "
                              "from its tool definition)")
        if not os.path.exists(args.port):
            raise SourceError(f"NDI tracker: serial path {args.port!r} does not exist")
        poller, info = _open(args.port, simulated=False)
        try:
            return perform(poller, info, args, ctx, tip_mm=args.pointer_tip_mm,
                           do_pointer=lambda: ctx.prompt(POINTER), do_icp=lambda: ctx.prompt(ICP))
        finally:
            poller.stop()
    return _run_simulated(args, ctx)


def _run_simulated(args: argparse.Namespace, ctx: CalibrationContext) -> CalibrationRecord:
    from drivers.jaw.aurora.simulator import AuroraSimulator
    from drivers.signals import steps as S

    tip = args.pointer_tip_mm or SIM_POINTER_TIP_MM
    cfg = ctx.settings.calibration.jaw_reference
    sim = AuroraSimulator(seed=int(ctx.extra.get("seed", 0)), incisal_offset_mm=SIM_INCISAL_OFFSET_MM,
                          icp_head_mm=SIM_ICP_MM, pointer_tip_mm=tip, pointer_slip_mm=args.sim_pointer_slip)
    sim.start()
    try:
        poller, info = _open(sim.path, simulated=True)
        hold = cfg.settle_s + cfg.capture_s + 1.0

        def pointer() -> None:
            ctx.say(f"(simulated) {POINTER}")
            sim.set_step(S.EMG_REST, hold)
            sim.set_pointer(True)

        def icp() -> None:
            ctx.say(f"(simulated) {ICP}")
            sim.set_pointer(False)
            sim.set_step(S.JAW_MAX_OPENING if args.sim_not_in_icp else S.EMG_CLENCH_ICP, hold)

        try:
            return perform(poller, info, args, ctx, tip_mm=tip, do_pointer=pointer, do_icp=icp)
        finally:
            poller.stop()
    finally:
        sim.close()


COMMAND = CalibrateCommand(kind="jaw-reference", help="incisal offset and intercuspal (ICP) reference of the jaw "
                           "tracker, on the patient (per visit: a check here, nothing stored)",
                           add_arguments=add_arguments, run=run)
