"""`amuse-acq calibrate emg-noise`: rest noise floor per channel and cotton-roll reference per muscle.

Against the configured BITalino boards (`--board STREAM=PATH` changes a board's path; default the two boards of
`BitalinoConfig`), electrodes on the subject: 10 s of rest, then the standardisation clench on the cotton rolls
(`calibration.emg_noise` computes and judges). Both boards are read at once through `BitalinoEmgSource`, each
stream on its own clock; the clench window is cut on the LSL clock for all of them.

The record is per visit (`PER_VISIT_KINDS`): the subject's own rest floor and clench level with this visit's
electrodes, stored in the visit file by the visit runner (`SessionManager.record_calibration`); `amuse-acq
calibrate emg-noise` only checks the boards, the montage and the procedure, and stores nothing.

With `--simulate`, two wire-level BITalino simulators (on ptys) play the subject with known levels
(`drivers.signals.emg.EmgParams`): `--sim-bad-electrode TA_L` gives that channel a loose electrode (25 uV RMS at
rest), `--sim-no-clench` a subject who does not clench (the procedure refuses).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from acquisition.clock import local_clock
from acquisition.source import Source, SourceError
from calibration.emg_noise import EmgSegment, assess_emg_noise
from calibration.records import CalibrationRecord
from sessions.calibrate_kinds.base import CalibrateCommand, CalibrationContext

#: the simulated boards (as the simulated rig wires them) and their serials
SIM_BOARDS: dict[str, tuple[str, dict[str, str]]] = {
    "emg_a": ("SIM-BIT-A", {"A1": "TA_R", "A2": "TA_L", "A3": "MM_R", "A4": "MM_L"}),
    "emg_b": ("SIM-BIT-B", {"A1": "DA_R", "A2": "DA_L", "A3": "SCM_R", "A4": "SCM_L"}),
}
_CHANNELS = ("TA_R", "TA_L", "MM_R", "MM_L", "DA_R", "DA_L", "SCM_R", "SCM_L")
REST = "Electrodes on, the subject at rest: jaw relaxed, lips apart, no swallowing, for 10 s"
CLENCH = "Cotton rolls (10 mm) between the teeth on both sides; at Enter the subject clenches on them for 5 s"


def _board(text: str) -> tuple[str, str]:
    stream, sep, path = text.partition("=")
    if not sep or not stream or not path:
        raise argparse.ArgumentTypeError(f"expected STREAM=PATH (e.g. emg_a=/dev/ttyUSB0), got {text!r}")
    return stream, path


def _label(text: str) -> str:
    if text not in _CHANNELS:
        raise argparse.ArgumentTypeError(f"expected an EMG channel ({', '.join(_CHANNELS)}), got {text!r}")
    return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", action="append", type=_board, default=[], metavar="STREAM=PATH",
                   help="serial path of a board (repeatable), e.g. emg_a=/dev/ttyUSB0; default: the boards of the "
                        "configuration (emg_a /dev/bitalino_a, emg_b /dev/bitalino_b)")
    p.add_argument("--sim-bad-electrode", type=_label, default=None, metavar="LABEL",
                   help="with --simulate: a loose electrode on this channel (25 uV RMS at rest)")
    p.add_argument("--sim-no-clench", action="store_true",
                   help="with --simulate: the subject does not clench on the cotton rolls")


def _config(args: argparse.Namespace, paths: dict[str, str] | None = None, *, simulated: bool) -> Any:
    from drivers.emg.bitalino.config import BitalinoConfig, BoardConfig

    base = BitalinoConfig()
    given = dict(args.board)
    unknown = sorted(set(given) - {b.stream for b in base.boards})
    if unknown:
        raise SourceError(f"emg-noise: no board {unknown[0]!r} in the configuration (boards: "
                          f"{', '.join(b.stream for b in base.boards)})")
    boards = []
    for b in base.boards:
        if paths is not None:
            serial, inputs = SIM_BOARDS[b.stream]
            boards.append(BoardConfig(stream=b.stream, path=paths[b.stream], serial=serial, inputs=inputs))
        else:
            boards.append(b.model_copy(update={"path": given.get(b.stream, b.path)}))
    return BitalinoConfig(boards=boards, simulated=simulated)


def capture_streams(source: Source, seconds: float, *, start_after: float, timeout_s: float | None = None,
                    clock: Callable[[], float] = local_clock) -> list[EmgSegment]:
    """`seconds` of every stream of the opened `source` stamped after `start_after`, in physical units, read at
    once (the streams of one capture must cover the same time). SourceError if one falls short in time."""
    specs = {s.name: s for s in source.streams}
    need = {n: math.ceil(seconds * s.nominal_rate) for n, s in specs.items()}
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {n: [] for n in specs}
    have = dict.fromkeys(specs, 0)
    limit = timeout_s if timeout_s is not None else max(0.0, start_after - clock()) + 2 * seconds + 2.0
    deadline = clock() + limit
    while any(have[n] < need[n] for n in specs):
        left = deadline - clock()
        if left <= 0:
            short = ", ".join(f"{n} {have[n]} of {need[n]}" for n in specs if have[n] < need[n])
            raise SourceError(f"{source.name}: samples within {limit:.1f} s: {short} (the board stopped delivering)")
        for ch in source.read(min(0.05, left)):
            if ch.stream not in specs or ch.n == 0:
                continue
            keep = ch.t_lsl >= start_after
            if keep.any():
                parts[ch.stream].append((specs[ch.stream].to_physical(ch.data[keep]), ch.t_lsl[keep],
                                         ch.device_seq[keep]))
                have[ch.stream] += int(keep.sum())
        source.drain_events()
    out = []
    for name, spec in specs.items():
        uv = np.concatenate([p[0] for p in parts[name]])[: need[name]]
        t = np.concatenate([p[1] for p in parts[name]])[: need[name]]
        seq = np.concatenate([p[2] for p in parts[name]])[: need[name]]
        out.append(EmgSegment(stream=name, channels=tuple(spec.channels), rate=spec.nominal_rate, uv=uv, t=t,
                              missing=int(max(0, seq[-1] - seq[0] + 1 - len(seq)))))
    return out


def perform(source: Source, ctx: CalibrationContext, *, do_rest: Callable[[], None],
            do_clench: Callable[[], None], clock: Callable[[], float] = local_clock) -> CalibrationRecord:
    """The procedure on an opened EMG source: `do_rest` / `do_clench` return when the step has begun (the
    technician pressed Enter, or the simulator was told)."""
    cfg = ctx.settings.calibration.emg_noise
    ctx.say(f"emg-noise: {', '.join(s.name for s in source.streams)} "
            f"({', '.join(c for s in source.streams for c in s.channels)})")
    do_rest()
    rest = capture_streams(source, cfg.rest_s, start_after=clock() + cfg.settle_s, clock=clock)
    ctx.say(f"emg-noise: {cfg.rest_s:g} s of rest captured")
    do_clench()
    clench = capture_streams(source, cfg.clench_s + 1.0, start_after=clock(), clock=clock)
    result = assess_emg_noise(rest, clench, settings=cfg)
    devs = [s.device for s in source.streams]
    return result.to_record(
        kind="emg-noise", device_serial="+".join(d.serial for d in devs), device_model=devs[0].model,
        performed_by=ctx.operator, valid_for=cfg.valid_for, simulated=ctx.simulate or any(d.simulated for d in devs),
        values={"boards": {s.name: s.device.serial for s in source.streams}})


def run(args: argparse.Namespace, ctx: CalibrationContext) -> CalibrationRecord:
    from drivers.emg.bitalino.driver import BitalinoEmgSource

    if not ctx.simulate:
        if args.sim_bad_electrode or args.sim_no_clench:
            raise SourceError("emg-noise: --sim-bad-electrode and --sim-no-clench need --simulate")
        src = BitalinoEmgSource(_config(args, simulated=False))
        src.open()
        try:
            return perform(src, ctx, do_rest=lambda: ctx.prompt(REST), do_clench=lambda: ctx.prompt(CLENCH))
        finally:
            src.close()
    return _run_simulated(args, ctx)


def _run_simulated(args: argparse.Namespace, ctx: CalibrationContext) -> CalibrationRecord:
    from drivers.emg.bitalino.driver import BitalinoEmgSource
    from drivers.emg.bitalino.simulator import BitalinoSimulator
    from drivers.signals import steps as S
    from drivers.signals.emg import EmgParams

    params = EmgParams()
    if args.sim_bad_electrode:
        params = params.with_bad_electrode(args.sim_bad_electrode)
    if args.sim_no_clench:
        params = params.model_copy(update={"cotton_roll_uv": dict(params.rest_uv)})
    seed = int(ctx.extra.get("seed", 0))
    sims = {name: BitalinoSimulator(inputs=tuple(inputs.values()), seed=seed + i, emg_params=params)
            for i, (name, (_, inputs)) in enumerate(SIM_BOARDS.items())}
    cfg = ctx.settings.calibration.emg_noise
    try:
        for sim in sims.values():
            sim.start()
        src = BitalinoEmgSource(_config(args, {n: s.path for n, s in sims.items()}, simulated=True))
        src.open()

        def step(name: str, seconds: float, text: str) -> Callable[[], None]:
            def do() -> None:
                ctx.say(f"(simulated) {text}")
                for sim in sims.values():
                    sim.set_step(name, seconds)
            return do

        try:
            return perform(src, ctx, do_rest=step(S.EMG_REST, cfg.rest_s + cfg.settle_s + 1.0, REST),
                           do_clench=step(S.EMG_COTTON_ROLL, cfg.clench_s, CLENCH))
        finally:
            src.close()
    finally:
        for sim in sims.values():
            sim.close()


COMMAND = CalibrateCommand(kind="emg-noise", help="EMG rest noise floor per channel and cotton-roll reference "
                           "per muscle (electrodes on the subject; per visit: a check here, nothing stored)",
                           add_arguments=add_arguments, run=run)

