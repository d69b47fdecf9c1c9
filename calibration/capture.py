"""Capture a few seconds of one stream from an opened `Source`, in physical units, for a calibration procedure.

Procedures average a still signal (an empty plate, a mass at rest): what they need is N seconds of samples taken
after the step was done, not the samples still in flight from before it. `start_after` (LSL clock) drops those:
the caller passes the time the step was done plus its settling time. The source's own counters and events are
kept beside the samples, so a capture during which the device lost samples says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from acquisition.clock import local_clock
from acquisition.events import Event
from acquisition.source import Source, SourceError
from acquisition.stream import StreamSpec


@dataclass(frozen=True)
class Capture:
    """`values` (n, c) physical units of `spec.channels`, with their `t_lsl` and `device_seq`; `missing` samples
    absent by sequence number inside the capture; the source's `events` meanwhile."""

    spec: StreamSpec
    values: np.ndarray
    t_lsl: np.ndarray
    device_seq: np.ndarray
    missing: int
    events: tuple[Event, ...]

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    @property
    def duration_s(self) -> float:
        return float(self.t_lsl[-1] - self.t_lsl[0]) if self.n > 1 else 0.0


def stream_spec(source: Source, pick: Callable[[StreamSpec], bool], what: str) -> StreamSpec:
    """The one stream of the opened `source` that `pick` accepts; SourceError naming `what` otherwise."""
    found = [s for s in source.streams if pick(s)]
    if len(found) != 1:
        names = ", ".join(s.name for s in source.streams) or "none"
        raise SourceError(f"{source.name}: expected one {what} stream, found {len(found)} (streams: {names})")
    return found[0]


def capture(source: Source, stream: str, seconds: float, *, start_after: float | None = None,
            timeout_s: float | None = None, poll_s: float = 0.05,
            clock: Callable[[], float] = local_clock) -> Capture:
    """Read `source` until `stream` holds `seconds` of samples stamped after `start_after` (default: now).

    A regular stream needs `ceil(seconds * nominal_rate)` samples, an irregular one samples spanning `seconds`.
    Raises SourceError if they do not come within `timeout_s` (default: the wait until `start_after`, plus twice
    `seconds`, plus 2 s): a device that stopped delivering must not hang a procedure."""
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"capture needs a positive duration, got {seconds!r}")
    spec = next((s for s in source.streams if s.name == stream), None)
    if spec is None:
        raise SourceError(f"{source.name}: no stream {stream!r} (streams: {', '.join(s.name for s in source.streams)})")
    now = clock()
    start = now if start_after is None else start_after
    limit = timeout_s if timeout_s is not None else max(0.0, start - now) + 2 * seconds + 2.0
    deadline = now + limit
    need = math.ceil(seconds * spec.nominal_rate) if spec.nominal_rate > 0 else 0
    data: list[np.ndarray] = []
    times: list[np.ndarray] = []
    seqs: list[np.ndarray] = []
    events: list[Event] = []
    have = 0

    def enough() -> bool:
        if need:
            return have >= need
        return have > 1 and float(times[-1][-1]) - float(times[0][0]) >= seconds

    while not enough():
        left = deadline - clock()
        if left <= 0:
            got = f"{have} of {need} samples" if need else f"{have} samples"
            raise SourceError(f"{source.name}: {got} of {stream} within {limit:.1f} s (the device stopped "
                              "delivering, or delivers too slowly)")
        for chunk in source.read(min(poll_s, left)):
            if chunk.stream != stream or chunk.n == 0:
                continue
            keep = chunk.t_lsl >= start
            if not keep.any():
                continue
            data.append(spec.to_physical(chunk.data[keep]))
            times.append(chunk.t_lsl[keep])
            seqs.append(chunk.device_seq[keep])
            have += int(keep.sum())
        events.extend(source.drain_events())
    events.extend(source.drain_events())
    values = np.concatenate(data)
    t = np.concatenate(times)
    seq = np.concatenate(seqs)
    if need:
        values, t, seq = values[:need], t[:need], seq[:need]
    missing = int(max(0, seq[-1] - seq[0] + 1 - len(seq))) if len(seq) else 0
    return Capture(spec=spec, values=values, t_lsl=t, device_seq=seq, missing=missing, events=tuple(events))


def channel_index(spec: StreamSpec, channels: Sequence[str]) -> list[int]:
    """Column of each of `channels` in `spec` (a stream whose channels are in another order still works)."""
    missing = [c for c in channels if c not in spec.channels]
    if missing:
        raise SourceError(f"stream {spec.name!r} has no channel {missing[0]!r} (channels: {', '.join(spec.channels)})")
    return [spec.channels.index(c) for c in channels]
