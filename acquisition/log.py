"""structlog set-up. Events are named `noun.verb` with key/value context, e.g. `log.info("frame.crc_failed", stream="emg")`."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

_configured = False


def configure(*, level: str | None = None, json: bool | None = None) -> None:
    """Configure structlog once: JSON lines under systemd / CI, readable console lines otherwise."""
    global _configured
    level_name = (level or os.environ.get("AMUSE_LOG_LEVEL", "INFO")).upper()
    use_json = json if json is not None else bool(os.environ.get("INVOCATION_ID")) or os.environ.get("AMUSE_LOG_JSON") == "1"
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level_name, logging.INFO)),
        logger_factory=_StderrLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    _configured = True


class _StderrLogger:
    """Writes each line to whatever `sys.stderr` is *now* (test runners swap it), never raising from a log call."""

    def msg(self, message: str) -> None:
        try:
            print(message, file=sys.stderr, flush=True)
        except (ValueError, OSError):  # stream closed at interpreter shutdown: a log line is not worth a crash
            pass

    log = debug = info = warn = warning = error = err = critical = exception = fatal = msg


class _StderrLoggerFactory:
    def __call__(self, *args: Any) -> _StderrLogger:
        return _StderrLogger()


def get_logger(name: str, **context: Any) -> Any:
    """A bound structlog logger carrying `component=name` and any extra context."""
    if not _configured:
        configure()
    return structlog.get_logger().bind(component=name, **context)
