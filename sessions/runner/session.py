"""`open_visit`: a `SessionManager` opened with a protocol, so its file carries the protocol's stamp and text."""

from __future__ import annotations

from typing import Any

from acquisition.config import AcqSettings
from sessions.manager import SessionManager
from sessions.protocol import ProtocolFile, default_protocol
from sessions.subject import VisitIdentity


def open_visit(settings: AcqSettings, identity: VisitIdentity, *, simulated: bool,
               protocol: ProtocolFile | None = None, **kwargs: Any) -> SessionManager:
    """`SessionManager.open(...)` with `protocol` (default: the shipped A-MUSE protocol); `kwargs` as `open`'s."""
    return SessionManager.open(settings, identity, simulated=simulated, protocol=protocol or default_protocol(),
                               **kwargs)
