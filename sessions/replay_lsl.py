"""`amuse-acq replay FILE --lsl [--speed X] [--loop]`: a sealed visit republished live on LSL (docs/replay-lsl.md).

The file is verified in full before anything is published (`VisitFile.open(verify="full")`, about a second per
100 MB): a replay is a copy of a trial record someone will look at or record again, so an unsealed or altered file
is refused in one line, like `inspect` and `verify` refuse it. Playing is `acquisition.replay.lsl_player`; this
module says what is published, handles SIGINT/SIGTERM (a clean stop: outlets closed, exit 0) and turns the
player's refusals into the CLI's one-line errors.

Read from `args`: `file`, `speed` (> 0), `loop`; and, when the parser offers them, `wait_consumers` (seconds to
wait for a recorder on every stream before playing, so it misses nothing; default 0) and `lsl_suffix` (default
`-replay`; `--lsl-suffix TAG` makes it `-replay-TAG`, and tests make it unique).
"""

from __future__ import annotations

import argparse
import math
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from acquisition.replay.lsl_player import REPLAY_SUFFIX, SEQ_CHANNEL, LslPlayer, PublishedStream, ReplayError
from acquisition.visitfile.reader import VisitFile, VisitFileError
from sessions.cli import CliError
from sessions.cli_args import one_line


def _outlet_line(p: PublishedStream, speed: float) -> str:
    if not p.stream:
        return (f"  events -> LSL {p.lsl_name!r} (source_id {p.source_id!r}): markers, JSON strings, "
                f"{p.rows} events")
    rate = (f"{p.nominal_srate:g} Hz" + (f" played x{speed:g}" if speed != 1 else "")) if p.nominal_srate > 0 \
        else "irregular"
    return (f"  {p.stream} -> LSL {p.lsl_name!r} (source_id {p.source_id!r}): {p.channel_format}, "
            f"{p.channel_count} ch (device_seq + {p.channel_count - 1}), {rate}, {p.rows} samples")


def _record_hint(published: list[PublishedStream]) -> str:
    names = " ".join(f"--lsl {p.lsl_name!r}" for p in published if p.stream)
    return f"record it with: amuse-acq record {names} --seq-channel {SEQ_CHANNEL} ..."


def _on_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGINT and SIGTERM set `stop`; returns what puts the previous handlers back (nothing off the main thread,
    where Python cannot install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    reason: dict[str, Any] = {}

    def handler(signum: int, _frame: object) -> None:
        reason["signal"] = signal.Signals(signum).name
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, h in previous.items():
            signal.signal(sig, h)

    return restore


def run_lsl_replay(args: argparse.Namespace, *, print_: Callable[[str], None] = print) -> int:
    """Publish every stream of `args.file` and its events on LSL with the recorded timing / `args.speed`, once or
    (`args.loop`) until SIGINT/SIGTERM; 0 when it ended or was stopped cleanly."""
    path = Path(args.file)
    speed = float(args.speed)
    if not (math.isfinite(speed) and speed > 0):
        raise CliError(f"--speed must be a number > 0, not {args.speed!r}")
    wait = float(getattr(args, "wait_consumers", 0.0) or 0.0)
    suffix = getattr(args, "lsl_suffix", None) or REPLAY_SUFFIX
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    try:
        vf = VisitFile.open(path, verify="full")
    except VisitFileError as exc:
        raise CliError(f"replay refused: {exc}", code=1) from None
    stop = threading.Event()
    with vf:
        try:
            player = LslPlayer(vf, speed=speed, loop=bool(args.loop), name_suffix=suffix)
            with player:
                how = "in a loop until Ctrl-C" if args.loop else "once"
                print_(f"replaying {path.name} on LSL at speed {speed:g}, {how}; device_seq is channel "
                       f"{SEQ_CHANNEL} of every stream")
                for p in player.published:
                    print_(one_line(_outlet_line(p, speed), 1000))
                print_(one_line(_record_hint(player.published), 4000))
                restore = _on_signals(stop)
                try:
                    if wait > 0:
                        missing = player.wait_for_consumers(wait, stop=stop)
                        if missing:
                            print_(f"no consumer after {wait:g} s on: {', '.join(missing)}; playing anyway")
                    stats = player.run(stop) if not stop.is_set() else None
                finally:
                    restore()
        except ReplayError as exc:
            raise CliError(f"replay failed: {exc}", code=1) from None
    if stats is None:
        print_("stopped before playing; outlets closed")
        return 0
    pushed = ", ".join(f"{name} {n}" for name, n in stats.samples.items())
    ended = "stopped" if stats.stopped else "ended"
    print_(f"replay {ended} after {stats.passes} full pass(es) in {stats.seconds:.1f} s: samples {pushed}; "
           f"{stats.events} events; pushes at most {stats.max_late_s * 1000:.0f} ms behind schedule; outlets closed")
    return 0
