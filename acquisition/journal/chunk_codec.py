"""Payload codecs for journal records: `Chunk` as compact binary, `Event` and other models/dicts as JSON.

Chunk payload, all little-endian, every array 8-byte aligned inside the payload:

```
0   2s  b"AC"            chunk payload magic
2   u8  version (1)
3   u8  flags            bit 0: t_read present
4   u8  dtype code       see DTYPE_CODES
5   u8  reserved (0)
6   u16 name length      UTF-8 bytes of the stream name
8   u32 n                samples
12  u32 c                channels
16  name, zero-padded to a multiple of 8
    data      n*c items of dtype, row-major (n x c), zero-padded to a multiple of 8
    device_seq n int64
    t_lsl      n float64
    t_read     n float64 (if flag bit 0)
```
Decoding is zero-copy: the arrays of the returned Chunk are read-only views on the payload.

JSON payloads (`encode_event`, `encode_json`) keep NaN/Infinity as the JSON5/Python tokens `NaN`, `Infinity`,
rather than silently turning them into null as pydantic's JSON mode does: the journal must not alter a value.
"""

from __future__ import annotations

import json
import struct
from typing import Any, TypeVar

import numpy as np
import pydantic_core
from pydantic import BaseModel, ValidationError

from acquisition.chunk import Chunk
from acquisition.events import Event
from acquisition.journal.errors import JournalFormatError

CHUNK_MAGIC = b"AC"
CHUNK_VERSION = 1
_FLAG_T_READ = 0x01
_HEAD = struct.Struct("<2sBBBBHII")  # 16 bytes

#: dtype code <-> numpy dtype name (the RawDtype set of acquisition.stream)
DTYPE_CODES: dict[int, str] = {
    1: "int8",
    2: "uint8",
    3: "int16",
    4: "uint16",
    5: "int32",
    6: "uint32",
    7: "int64",
    8: "float32",
    9: "float64",
}
_CODE_OF = {v: k for k, v in DTYPE_CODES.items()}
_LE = {k: np.dtype(v).newbyteorder("<") for k, v in DTYPE_CODES.items()}
_I64 = np.dtype("<i8")
_F64 = np.dtype("<f8")

M = TypeVar("M", bound=BaseModel)


def _pad8(n: int) -> int:
    return (-n) % 8


def encode_chunk(chunk: Chunk) -> bytes:
    """Binary payload of one chunk (see module doc)."""
    data = chunk.data
    code = _CODE_OF.get(data.dtype.name)
    if code is None:
        raise JournalFormatError(
            f"chunk of {chunk.stream!r}: dtype {data.dtype} has no journal code (supported: {sorted(_CODE_OF)})"
        )
    name = chunk.stream.encode("utf-8")
    if len(name) > 0xFFFF:
        raise JournalFormatError(f"chunk stream name of {len(name)} bytes is too long")
    n, c = data.shape
    if n > 0xFFFFFFFF or c > 0xFFFFFFFF:
        raise JournalFormatError(f"chunk of {chunk.stream!r}: shape {data.shape} too large")
    flags = _FLAG_T_READ if chunk.t_read is not None else 0
    body = np.ascontiguousarray(data, dtype=_LE[code]).tobytes()
    parts = [
        _HEAD.pack(CHUNK_MAGIC, CHUNK_VERSION, flags, code, 0, len(name), n, c),
        name,
        b"\0" * _pad8(len(name)),
        body,
        b"\0" * _pad8(len(body)),
        np.ascontiguousarray(chunk.device_seq, dtype=_I64).tobytes(),
        np.ascontiguousarray(chunk.t_lsl, dtype=_F64).tobytes(),
    ]
    if chunk.t_read is not None:
        parts.append(np.ascontiguousarray(chunk.t_read, dtype=_F64).tobytes())
    return b"".join(parts)


def is_chunk_payload(payload: bytes | memoryview) -> bool:
    """True if the payload starts like an encoded chunk (JSON payloads start with '{')."""
    return bytes(payload[:2]) == CHUNK_MAGIC


def decode_chunk(payload: bytes | bytearray | memoryview) -> Chunk:
    """Inverse of `encode_chunk`. Raises `JournalFormatError` on anything inconsistent."""
    buf = bytes(payload) if not isinstance(payload, bytes) else payload
    if len(buf) < _HEAD.size:
        raise JournalFormatError(f"chunk payload of {len(buf)} bytes is shorter than its {_HEAD.size}-byte header")
    magic, version, flags, code, _res, name_len, n, c = _HEAD.unpack_from(buf, 0)
    if magic != CHUNK_MAGIC:
        raise JournalFormatError(f"not a chunk payload: magic {magic!r}, expected {CHUNK_MAGIC!r}")
    if version != CHUNK_VERSION:
        raise JournalFormatError(f"chunk payload version {version} is not supported (this reader knows {CHUNK_VERSION})")
    if flags & ~_FLAG_T_READ:
        raise JournalFormatError(f"chunk payload has unknown flags 0x{flags:02x}")
    if code not in DTYPE_CODES:
        raise JournalFormatError(f"chunk payload has unknown dtype code {code}")
    dt = _LE[code]
    pos = _HEAD.size
    name_end = pos + name_len
    data_off = name_end + _pad8(name_len)
    data_bytes = n * c * dt.itemsize
    seq_off = data_off + data_bytes + _pad8(data_bytes)
    t_off = seq_off + 8 * n
    tr_off = t_off + 8 * n
    expected = tr_off + (8 * n if flags & _FLAG_T_READ else 0)
    if len(buf) != expected:
        raise JournalFormatError(
            f"chunk payload is {len(buf)} bytes but its header (n={n}, c={c}, dtype={DTYPE_CODES[code]}, "
            f"t_read={bool(flags & _FLAG_T_READ)}) implies {expected}"
        )
    try:
        stream = buf[pos:name_end].decode("utf-8")
    except UnicodeDecodeError as e:
        raise JournalFormatError(f"chunk payload stream name is not UTF-8: {e}") from e
    native = np.dtype(DTYPE_CODES[code])
    data = np.frombuffer(buf, dtype=dt, count=n * c, offset=data_off).reshape(n, c).astype(native, copy=False)
    seq = np.frombuffer(buf, dtype=_I64, count=n, offset=seq_off).astype(np.int64, copy=False)
    t = np.frombuffer(buf, dtype=_F64, count=n, offset=t_off).astype(np.float64, copy=False)
    tr = None
    if flags & _FLAG_T_READ:
        tr = np.frombuffer(buf, dtype=_F64, count=n, offset=tr_off).astype(np.float64, copy=False)
    try:
        return Chunk(stream=stream, data=data, device_seq=seq, t_lsl=t, t_read=tr)
    except ValidationError as e:
        raise JournalFormatError(f"chunk payload does not make a valid Chunk: {e}") from e


# -- JSON -------------------------------------------------------------------------------------------------------


def encode_json(obj: BaseModel | dict[str, Any]) -> bytes:
    """UTF-8 JSON of a pydantic model or a dict, compact, NaN/Infinity preserved."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="python")
    if not isinstance(obj, dict):
        raise JournalFormatError(f"encode_json takes a pydantic model or a dict, not {type(obj).__name__}")
    try:
        return json.dumps(
            obj, allow_nan=True, ensure_ascii=False, separators=(",", ":"), default=_jsonable
        ).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise JournalFormatError(f"cannot encode as JSON: {e}") from e


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    try:
        return pydantic_core.to_jsonable_python(value)
    except pydantic_core.PydanticSerializationError as e:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable") from e


def decode_json(payload: bytes | bytearray | memoryview, model: type[M] | None = None) -> M | dict[str, Any]:
    """Inverse of `encode_json`: a dict, or an instance of `model` if given."""
    try:
        obj = json.loads(bytes(payload).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise JournalFormatError(f"JSON payload does not decode: {e}") from e
    if not isinstance(obj, dict):
        raise JournalFormatError(f"JSON payload is a {type(obj).__name__}, expected an object")
    if model is None:
        return obj
    try:
        return model.model_validate(obj)
    except ValidationError as e:
        raise JournalFormatError(f"JSON payload is not a valid {model.__name__}: {e}") from e


def encode_event(event: Event) -> bytes:
    return encode_json(event)


def decode_event(payload: bytes | bytearray | memoryview) -> Event:
    ev = decode_json(payload, Event)
    assert isinstance(ev, Event)
    return ev
