"""The technician's prompt gives up at once on a stop request (SIGTERM, Ctrl-C) while it waits for an answer:
a signal handler only sets the flag, and a blocking readline would wait for Enter (a service stop would then end
in SIGKILL with the visit left open)."""

from __future__ import annotations

import io
import os
import threading
import time

import pytest
from rich.console import Console

from sessions.visit_prompt import PromptOperator
from sessions.visit_run import StopRequest, VisitStopped


def test_a_stop_request_ends_a_prompt_waiting_on_a_silent_terminal() -> None:
    r, w = os.pipe()
    stdin = os.fdopen(r, "r")
    stop = StopRequest()
    op = PromptOperator(console=Console(file=io.StringIO()), stdin=stdin, stop=stop)
    timer = threading.Timer(0.3, stop.request, args=("SIGTERM",))
    timer.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(VisitStopped, match="SIGTERM"):
            op.ask("accept", choices=["y", "n"])
        assert time.monotonic() - t0 < 2.0
    finally:
        timer.cancel()
        stdin.close()
        os.close(w)


def test_an_answer_is_still_read_when_no_stop_is_requested() -> None:
    r, w = os.pipe()
    stdin = os.fdopen(r, "r")
    os.write(w, b"n\n")
    op = PromptOperator(console=Console(file=io.StringIO()), stdin=stdin, stop=StopRequest())
    try:
        assert op.ask("accept", choices=["y", "n"]) == "n"
    finally:
        stdin.close()
        os.close(w)
