"""BITalino (r)evolution wire format, one module per concept; this module gathers them for importers.

- `frame`: frame length, CRC4, encode/decode of one data frame (layout documented there and in docs/devices.md);
- `replies`: the state reply (command 0x0B) and the version string;
- `decoded`: what a feed returns (`Decoded` frames, `DecoderEvent` faults);
- `decoder`: the streaming `FrameDecoder` (alignment without a sync byte, drop of spliced frames, exact
  accounting), with its vectorised fast path in `fastscan`.
"""

from __future__ import annotations

from drivers.emg.bitalino.decoded import Decoded, DecoderEvent
from drivers.emg.bitalino.decoder import FrameDecoder
from drivers.emg.bitalino.frame import N_ANALOG, channel_widths, check_frame, crc4, decode_frame, encode_frame, frame_length
from drivers.emg.bitalino.replies import (
    STATE_LENGTH,
    VERSION_RE,
    BitalinoState,
    StateCrcError,
    VersionInfo,
    decode_state,
    encode_state,
    extract_version,
    parse_version,
)

__all__ = [
    "N_ANALOG", "STATE_LENGTH", "VERSION_RE", "BitalinoState", "Decoded", "DecoderEvent", "FrameDecoder",
    "StateCrcError", "VersionInfo", "channel_widths", "check_frame", "crc4", "decode_frame", "decode_state",
    "encode_frame", "encode_state", "extract_version", "frame_length", "parse_version",
]
