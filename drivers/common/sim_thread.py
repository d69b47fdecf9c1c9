"""Lifecycle shared by simulators whose device loop is one thread: `start()`, `stop()` (= `close()`), context
manager. A subclass sets `_stop` (threading.Event) and `_thread = None` in `__init__`, names its loop `_run()`
(returning when `_stop` is set), and releases its transport in `_release()`."""

from __future__ import annotations

import threading
from typing import Any


class ThreadedSimulator:
    _thread_name = "simulator"
    _stop: threading.Event
    _thread: threading.Thread | None

    def _run(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        """Close the device's end of the transport (after the loop has stopped)."""

    def start(self) -> Any:
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the device loop and release the transport (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self._release()

    def close(self) -> None:
        """Same as `stop()`."""
        self.stop()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
