"""A background loop of the session (compaction, stream watch): one thread, one stop Event, joined by its owner.

Why a base: the two loops had the same start / request_stop / stop(join) lines; a loop thread that nobody joins or
that cannot be told to stop is what design.md warns against, so both get it from one place.
"""

from __future__ import annotations

import threading


class LoopThread:
    """Subclasses implement `_run`, which returns once `self._stop` is set."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to end at its next turn, without waiting (several loops are then joined together)."""
        self._stop.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the loop and join its thread (a pass in progress completes first)."""
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)
