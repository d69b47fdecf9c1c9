"""The visit protocol: which steps, in which order, for which visit code (trial registry NCT07326033).

Facial scanner + photos and jaw tracking + EMG at D0 W4 W12 W24; stabilometry at D0 W12 W24 only (not W4).
Questionnaires and clinician scores are entered elsewhere (eCRF); they appear here as manual steps so the
timeline shows when they happened. The protocol is a versioned TOML file (docs/protocol.md): the shipped one is
`a_muse.toml` (`default_protocol()`); a site replaces the whole of it with its own (`load_protocol(path)`).
Modules: `model` (the pydantic models), `files` (loading, the hash and text that go into the visit file).
"""

from sessions.protocol.files import (DEFAULT_SOURCE, ProtocolError, ProtocolFile, default_protocol, load_protocol,
                                     parse_protocol)
from sessions.protocol.model import (ALL_VISITS, DEVICE_INSTRUMENTS, RESERVED_STEP_NAMES, Instrument, Protocol,
                                     ProtocolStep, QcDefaults, StepQc, StreamQc)

#: the shipped protocol's model (`default_protocol()` also gives its hash and text)
DEFAULT_PROTOCOL: Protocol = default_protocol().protocol

__all__ = [
    "ALL_VISITS", "DEFAULT_PROTOCOL", "DEFAULT_SOURCE", "DEVICE_INSTRUMENTS", "RESERVED_STEP_NAMES", "Instrument",
    "Protocol", "ProtocolError", "ProtocolFile", "ProtocolStep", "QcDefaults", "StepQc", "StreamQc",
    "default_protocol", "load_protocol", "parse_protocol",
]
