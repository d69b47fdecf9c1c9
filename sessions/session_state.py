"""The states of a session: `recording` (after `open`) -> `closing` -> `sealed`, or `failed`."""

from __future__ import annotations

from enum import Enum


class SessionState(str, Enum):
    recording = "recording"
    closing = "closing"
    sealed = "sealed"
    failed = "failed"
