"""The `Source` contract: a driver, an LSL inlet and a replay all feed the session manager through it.

A source is opened (identity read, clear error if the device is missing or wrong), then polled by one reader
thread of the session manager with `read(timeout)`; device-side happenings (CRC failures, gaps, unplug,
reconnect) are reported as events through `drain_events()`, and counted in `counters()`. A source never
raises out of `read` for a fault it can recover from: it reports it and goes on.

A source whose streams are already on LSL (an inlet) sets the class attribute `republish = False`, so the
session does not publish them a second time.

Pseudonymisation is declared on the contract, not decided by the session from a source's type: a source or
scanner whose event payloads name files, folders or ports only by aliases (never a vendor file name, which may be
the patient's) sets the optional class attribute `emits_pseudonymous_names = True`. Absent, it is False and the
session pseudonymises the names in its payloads (`sessions.privacy.scrub_names`). `emits_pseudonymous_names(src)`
is the one place that reads it. Likewise `keeps_event_steps = True` (read by `keeps_event_steps(src)`): the source's
events carry the step they belong to, "" included (a replay of a recorded visit), and the session must not tag an
event without one by the step in force at its time. (It is documented, not declared, on the Protocols: a runtime-checkable Protocol
would make every member mandatory for `isinstance`.)

`ScanSource` is the other contract: a file-delivering instrument (the facial scanner) polled for finished
captures rather than read for chunks. `opened(source)` makes either one a context manager (open on entry, close
on exit, whatever happened), without asking every driver to implement `__enter__`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

from acquisition.chunk import Chunk
from acquisition.events import Event
from acquisition.stream import StreamSpec


class SourceError(RuntimeError):
    """An unrecoverable source problem with a one-line, specific message (device missing, wrong device...)."""


@runtime_checkable
class Source(Protocol):
    """What the session manager needs from anything that produces samples.

    Optional class attribute `emits_pseudonymous_names: bool` (default False when absent): True when its event
    payloads never carry a file, folder or port name that could identify someone; else the session scrubs them.
    """

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


@runtime_checkable
class ScanSource(Protocol):
    """A file-delivering instrument (the facial scanner): polled for finished captures by one thread.

    Optional class attribute `emits_pseudonymous_names: bool` (default False when absent): a scanner whose
    captures, events and logs name files only by pseudonymous aliases says True; otherwise the session
    pseudonymises its event payloads."""

    @property
    def name(self) -> str: ...

    def open(self) -> None: ...

    def poll(self) -> Sequence[Any]:
        """The captures finished since the last call (each for the session's scan encoder), oldest first."""
        ...

    def drain_events(self) -> Sequence[Event]: ...

    def counters(self) -> Mapping[str, int]: ...

    def close(self) -> None: ...


def emits_pseudonymous_names(source: object) -> bool:
    """The source's declaration that its event payloads need no pseudonymising (absent: False, they do)."""
    return getattr(source, "emits_pseudonymous_names", False) is True  # a truthy non-bool is not a declaration


def keeps_event_steps(source: object) -> bool:
    """The source's declaration that its events' `step` is final, "" included (absent: False, the session tags)."""
    return getattr(source, "keeps_event_steps", False) is True


_S = TypeVar("_S", Source, ScanSource)


@contextmanager
def opened(source: _S) -> Iterator[_S]:
    """`with opened(src) as s:` opens `src` and closes it on exit, on an exception too (which propagates).

    Why a function: `Source` and `ScanSource` are structural contracts that drivers satisfy without inheriting
    anything; this gives every one of them the context-manager behaviour."""
    source.open()
    try:
        yield source
    finally:
        source.close()
