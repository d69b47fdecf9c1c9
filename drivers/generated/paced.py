"""`PacedSource`: a `Source` that emits a generator's samples at its nominal rate on the LSL clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from acquisition.chunk import Chunk
from acquisition.events import Event
from acquisition.lslenv import local_clock
from acquisition.stream import StreamSpec
from drivers.common.paced_sim import DeviceClock


class PacedSource:
    """Emits `generator.next(n)` (an n x c array, or a tuple whose first item is) at `spec.nominal_rate`.

    Sample k has time `t0 + k / rate` and device_seq k: a perfect device, paced from an absolute origin by the
    same `DeviceClock` as the wire-level simulators (drivers/common/paced_sim.py). Values are cast to the spec's
    dtype after `encode` (e.g. physical -> raw codes). Satisfies `Source` and `StepAware`.
    """

    #: its payloads name ports by label (drivers/common/port_label.py) and streams by name, never a file:
    #: nothing to pseudonymise (acquisition.source.emits_pseudonymous_names)
    emits_pseudonymous_names = True

    def __init__(self, spec: StreamSpec, generator: Any, *, encode: Callable[[np.ndarray], np.ndarray] | None = None,
                 clock: Callable[[], float] = local_clock, sleep: Callable[[float], None] = time.sleep,
                 chunk_s: float = 0.02) -> None:
        if spec.nominal_rate <= 0:
            raise ValueError("PacedSource needs a regular stream (nominal_rate > 0)")
        self._spec = spec
        self._gen = generator
        self._encode = encode
        self._chunk_s = chunk_s
        self._clock = clock
        self._sleep = sleep
        self._device_clock = DeviceClock(spec.nominal_rate)
        self._k = 0
        self._events: list[Event] = []

    @property
    def name(self) -> str:
        return "paced:" + self._spec.name

    @property
    def streams(self) -> Sequence[StreamSpec]:
        return [self._spec]

    def open(self) -> None:
        self._device_clock.start(self._clock())

    def set_step(self, step: str, duration_s: float) -> None:
        if hasattr(self._gen, "set_step"):
            self._gen.set_step(step, duration_s)

    def read(self, timeout: float) -> Sequence[Chunk]:
        dc = self._device_clock
        assert dc.started, "read() before open()"
        want = max(1, int(dc.rate * self._chunk_s))
        due = dc.due(self._clock()) - self._k
        if due < want:
            wait = dc.tick_time(self._k + want - 1) - self._clock()
            self._sleep(max(0.0, min(timeout, wait)))
            due = dc.due(self._clock()) - self._k
            if due <= 0:
                return []
        out = self._gen.next(due)
        values = out[0] if isinstance(out, tuple) else out
        raw = self._encode(values) if self._encode is not None else values
        raw = np.asarray(raw, dtype=self._spec.np_dtype).reshape(due, self._spec.n_channels)
        seq = np.arange(self._k, self._k + due, dtype=np.int64)
        t = dc.tick_time(seq)  # type: ignore[arg-type]
        self._k += due
        return [Chunk.build(self._spec.name, raw, seq, t)]

    def drain_events(self) -> Sequence[Event]:
        out, self._events = self._events, []
        return out

    def counters(self) -> Mapping[str, int]:
        return {"samples": self._k}

    def close(self) -> None:
        """Nothing to release: no transport."""


class RampGenerator:
    """Deterministic test signal: channel j of sample k is (k * n_channels + j) mod 2^31."""

    def __init__(self, n_channels: int) -> None:
        self.c = n_channels
        self.k = 0

    def next(self, n: int) -> np.ndarray:
        base = (np.arange(self.k, self.k + n, dtype=np.int64)[:, None] * self.c + np.arange(self.c)) % (2**31)
        self.k += n
        return base
