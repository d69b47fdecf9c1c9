"""What the BITalino `FrameDecoder` hands out for each `feed`: the accepted frames (`Decoded`) and the faults it
saw on the way (`DecoderEvent`, named in the drivers' vocabulary, acquisition.events.DeviceEventName)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class DecoderEvent:
    name: str  # frame.crc_failed | samples.missing | stream.resynced | frame.rejected | frame.dropped_after_gap
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Decoded:
    """Frames accepted by one `feed`: unwrapped sequence numbers, analog codes, digital bits, arrival times."""

    seq: np.ndarray  # int64 (k,)
    analog: np.ndarray  # uint16 (k, n)
    digital: np.ndarray  # uint8 (k, 4)
    t_arrival: np.ndarray  # float64 (k,)
    events: list[DecoderEvent]

    @property
    def n(self) -> int:
        return int(self.seq.shape[0])

    @classmethod
    def empty(cls, n_channels: int, events: list[DecoderEvent] | None = None) -> "Decoded":
        """No frame accepted (the events, if any, still go out)."""
        return cls(seq=np.empty(0, dtype=np.int64), analog=np.empty((0, n_channels), dtype=np.uint16),
                   digital=np.empty((0, 4), dtype=np.uint8), t_arrival=np.empty(0), events=events or [])
