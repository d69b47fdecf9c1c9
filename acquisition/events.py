"""Events on the visit timeline: protocol steps, markers, device faults, operator actions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventKind = Literal[
    "visit_open",
    "visit_close",
    "step_start",
    "step_end",
    "marker",
    "device",  # device-side happenings: connect, disconnect, reconnect, crc_error, gap, resync, stall ...
    "operator",  # operator actions: override, comment, abort
    "scan",
    "qc",
    "clock",  # clock offsets (LSL time_correction), (monotonic, UTC) pairs
]


class Event(BaseModel):
    """One timestamped happening. `t_lsl` is on the LSL clock; `utc` is ISO-8601 with `Z`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    t_lsl: float
    utc: str
    kind: EventKind
    name: str = Field(min_length=1, max_length=120, description="noun.verb style, e.g. 'frame.crc_failed'")
    stream: str = ""
    step: str = ""
    payload: dict[str, Any] = Field(default_factory=dict)
