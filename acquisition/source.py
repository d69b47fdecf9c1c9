"""The `Source` contract: a driver, an LSL inlet and a replay all feed the session manager through it.

A source is opened (identity read, clear error if the device is missing or wrong), then polled by one reader
thread of the session manager with `read(timeout)`; device-side happenings (CRC failures, gaps, unplug,
reconnect) are reported as events through `drain_events()`, and counted in `counters()`. A source never
raises out of `read` for a fault it can recover from: it reports it and goes on.

A source whose streams are already on LSL (an inlet) sets the class attribute `republish = False`, so the
session does not publish them a second time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from acquisition.chunk import Chunk
from acquisition.events import Event
from acquisition.stream import StreamSpec


class SourceError(RuntimeError):
    """An unrecoverable source problem with a one-line, specific message (device missing, wrong device...)."""


@runtime_checkable
class Source(Protocol):
    """What the session manager needs from anything that produces samples."""

    @property
    def name(self) -> str:
        """Short unique name of the source (e.g. 'bitalino', 'aurora', 'lsl:EMG')."""
        ...

    @property
    def streams(self) -> Sequence[StreamSpec]:
        """The streams this source produces (valid after `open`)."""
        ...

    def open(self) -> None:
        """Connect and identify the device. Raises `SourceError` with a clear message."""
        ...

    def read(self, timeout: float) -> Sequence[Chunk]:
        """Return the chunks that arrived, waiting at most `timeout` seconds. May return an empty list."""
        ...

    def drain_events(self) -> Sequence[Event]:
        """Device events since the last call (faults, reconnects, gaps), oldest first."""
        ...

    def counters(self) -> Mapping[str, int]:
        """Monotonic QC counters, e.g. {'crc_errors': 0, 'gaps': 0, 'samples_lost': 0, 'reconnects': 0}."""
        ...

    def close(self) -> None:
        """Stop streaming and release the transport. Idempotent."""
        ...


@runtime_checkable
class StepAware(Protocol):
    """Optional: a simulated source whose simulated patient follows the protocol step (demo, tests)."""

    def set_step(self, step: str, duration_s: float) -> None: ...
