"""`Chunk`: the one thing every source produces, whatever its transport."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator


class Chunk(BaseModel):
    """`n` consecutive samples of one stream.

    - `data`: n x c, raw device units, in the stream's dtype.
    - `device_seq`: n int64 sample sequence numbers as the device (or the source) counts them; gaps between
      consecutive numbers are lost samples and are reported, never hidden.
    - `t_lsl`: n float64 times on the LSL clock (`pylsl.local_clock()`): the best estimate at record time
      (counter->time fit for devices with a counter; raw pushed stamps for LSL inlets).
    - `t_read`: optional n float64 raw read stamps (host time when the bytes arrived), kept beside the fit.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True, extra="forbid")

    stream: str
    data: Any
    device_seq: Any
    t_lsl: Any
    t_read: Any = None

    @model_validator(mode="after")
    def _check(self) -> "Chunk":
        data = self.data
        if not isinstance(data, np.ndarray) or data.ndim != 2:
            raise ValueError(f"chunk of {self.stream!r}: data must be a 2-D numpy array (n x c)")
        n = data.shape[0]
        seq, t = self.device_seq, self.t_lsl
        if not isinstance(seq, np.ndarray) or seq.dtype != np.int64 or seq.shape != (n,):
            raise ValueError(f"chunk of {self.stream!r}: device_seq must be int64 of shape ({n},)")
        if not isinstance(t, np.ndarray) or t.dtype != np.float64 or t.shape != (n,):
            raise ValueError(f"chunk of {self.stream!r}: t_lsl must be float64 of shape ({n},)")
        tr = self.t_read
        if tr is not None and (not isinstance(tr, np.ndarray) or tr.dtype != np.float64 or tr.shape != (n,)):
            raise ValueError(f"chunk of {self.stream!r}: t_read must be float64 of shape ({n},) or None")
        return self

    @property
    def n(self) -> int:
        return int(self.data.shape[0])

    @classmethod
    def build(
        cls,
        stream: str,
        data: np.ndarray,
        device_seq: np.ndarray,
        t_lsl: np.ndarray,
        t_read: np.ndarray | None = None,
    ) -> "Chunk":
        """Coerce array dtypes (seq -> int64, times -> float64) and validate."""
        return cls(
            stream=stream,
            data=np.ascontiguousarray(data),
            device_seq=np.ascontiguousarray(device_seq, dtype=np.int64),
            t_lsl=np.ascontiguousarray(t_lsl, dtype=np.float64),
            t_read=None if t_read is None else np.ascontiguousarray(t_read, dtype=np.float64),
        )
