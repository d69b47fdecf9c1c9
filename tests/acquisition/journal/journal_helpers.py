"""Shared helpers for the journal tests (plain module, imported by the test files next to it)."""

from __future__ import annotations

from pathlib import Path

from acquisition.journal.framing import frame
from acquisition.journal.layout import segment_name


def framed_blob(payloads: list[bytes]) -> tuple[bytes, list[tuple[int, int]]]:
    """Concatenated frames and the (start, end) byte span of each record."""
    parts, spans, pos = [], [], 0
    for p in payloads:
        f = frame(p)
        parts.append(f)
        spans.append((pos, pos + len(f)))
        pos += len(f)
    return b"".join(parts), spans


def write_segment(directory: Path, index: int, content: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / segment_name(index)
    path.write_bytes(content)
    return path


def payload_for(i: int) -> bytes:
    """Deterministic, variable-length payload carrying its sequence number."""
    return i.to_bytes(8, "little") + bytes((i * 7 + k) & 0xFF for k in range(i % 97))
