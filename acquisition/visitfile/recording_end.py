"""When the recording of a crashed visit ended: the `closed_utc` of a recovered file.

A crashed visit has no close record, and its last event is usually a `clock.pair` (written every 60 s), so the
last event alone can be up to a minute early. The samples are the last records: the last sample's `t_lsl` is
placed on the calendar through the (LSL clock, UTC) pair nearest to it in LSL time (the `clock.pair` events and
the visit record's `started_t_lsl` / `started_utc`), and the end is the latest of the close record, the last
event and that mapped sample time.

Only streams whose `t_lsl` is this machine's LSL clock are mapped: a stream recorded from an LSL outlet
(`device.transport` `lsl:<name>`, `acquisition.lsl.inlet`) stores the sender's timestamps as they arrived (its
offset is in the `lsl.time_correction` events, not applied), and a stream whose description was lost in the
journal has an unknown origin; both are left out. A driver stream's `t_lsl` comes from `local_clock()` (directly,
or through `CounterClock`'s fit of the device counter to it), so it maps through the session's pairs.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable, Mapping
from typing import Any

from acquisition.clock import utc_iso
from acquisition.stream import StreamSpec

__all__ = ["CLOCK_PAIR", "ClockPairs", "has_local_timestamps", "recording_end_utc"]

#: the session's (LSL clock, UTC) pair event (payload `t_lsl`, `utc`), written at open, every 60 s and at close
CLOCK_PAIR = "clock.pair"

_LSL_TRANSPORT = "lsl:"


def parse_utc(text: object) -> _dt.datetime | None:
    """An ISO-8601 UTC string ('...Z') as an aware datetime; None for anything else."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=_dt.timezone.utc)


def has_local_timestamps(spec: StreamSpec, *, placeholder: bool = False) -> bool:
    """Whether the stream's `t_lsl` is this machine's LSL clock (see the module docstring)."""
    return not placeholder and not spec.device.transport.startswith(_LSL_TRANSPORT)


class ClockPairs:
    """The (LSL clock, UTC) pairs of a visit, to place a local `t_lsl` on the calendar."""

    def __init__(self) -> None:
        self._pairs: list[tuple[float, _dt.datetime]] = []

    def __len__(self) -> int:
        return len(self._pairs)

    def add(self, t_lsl: object, utc: object) -> bool:
        """Keep the pair if both halves are usable (a finite time and a UTC string); returns whether it was kept."""
        when = parse_utc(utc)
        if when is None or not isinstance(t_lsl, (int, float)) or isinstance(t_lsl, bool) or not math.isfinite(t_lsl):
            return False
        self._pairs.append((float(t_lsl), when))
        return True

    def add_event(self, t_lsl: float, utc: str, payload: Mapping[str, Any]) -> None:
        """A `clock.pair` event: its payload's pair, or the event's own times if the payload lacks one."""
        if not self.add(payload.get("t_lsl"), payload.get("utc")):
            self.add(t_lsl, utc)

    def to_utc(self, t_lsl: float) -> _dt.datetime | None:
        """`t_lsl` on the calendar through the pair nearest to it (the clocks drift apart between pairs)."""
        if not self._pairs or not math.isfinite(t_lsl):
            return None
        t0, utc0 = min(self._pairs, key=lambda p: abs(p[0] - t_lsl))
        return utc0 + _dt.timedelta(seconds=t_lsl - t0)


def recording_end_utc(records_utc: Iterable[str | None], last_samples_t_lsl: Iterable[float | None],
                      pairs: ClockPairs) -> str | None:
    """The latest of the given UTC strings (close record, last event) and of the last local samples mapped to
    UTC. A given string is returned as written; a mapped sample time in `utc_iso` form. None if there is none."""
    best: tuple[_dt.datetime, str] | None = None
    for text in records_utc:
        when = parse_utc(text)
        if when is not None and (best is None or when > best[0]):
            best = (when, str(text))
    for t in last_samples_t_lsl:
        when = pairs.to_utc(t) if t is not None else None
        if when is not None and (best is None or when > best[0]):
            best = (when, utc_iso(when))
    return best[1] if best is not None else None
