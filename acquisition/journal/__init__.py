"""The journal: the crash-safe truth while a visit is open.

Per-log directories of append-only segment files of framed, CRC-checked records (`framing`), written by
`Journal`/`LogWriter` (`writer`, fsync within `fsync_interval_s`), read back by `scan_log`/`LogCursor` (`reader`,
which never accepts a damaged record and resynchronises after damage). Payload codecs in `chunk_codec`.
"""

from acquisition.journal.chunk_codec import (
    decode_chunk,
    decode_event,
    decode_json,
    encode_chunk,
    encode_event,
    encode_json,
    is_chunk_payload,
)
from acquisition.journal.errors import JournalError, JournalFormatError
from acquisition.journal.framing import HEADER_BYTES, MAGIC, MAX_RECORD_BYTES, frame
from acquisition.journal.layout import list_segments, segment_name, validate_log_name
from acquisition.journal.reader import CursorPosition, DamageRegion, LogCursor, LogScan, SegmentReport, scan_log
from acquisition.journal.writer import DEFAULT_SEGMENT_BYTES, Journal, LogWriter

__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "HEADER_BYTES",
    "MAGIC",
    "MAX_RECORD_BYTES",
    "CursorPosition",
    "DamageRegion",
    "Journal",
    "JournalError",
    "JournalFormatError",
    "LogCursor",
    "LogScan",
    "LogWriter",
    "SegmentReport",
    "decode_chunk",
    "decode_event",
    "decode_json",
    "encode_chunk",
    "encode_event",
    "encode_json",
    "frame",
    "is_chunk_payload",
    "list_segments",
    "scan_log",
    "segment_name",
    "validate_log_name",
]
