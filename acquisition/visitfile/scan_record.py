"""Journal payload of one scan capture: a JSON header (id + attributes) followed by an .npz of its arrays."""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from acquisition.journal import JournalFormatError


def encode_scan(scan_id: str, arrays: Mapping[str, np.ndarray], attrs: Mapping[str, Any]) -> bytes:
    header = json.dumps({"scan_id": scan_id, "attrs": dict(attrs)}, sort_keys=True, default=str).encode()
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return struct.pack("<I", len(header)) + header + buf.getvalue()


def decode_scan(payload: bytes | memoryview) -> tuple[str, dict[str, np.ndarray], dict[str, Any]]:
    try:
        raw = bytes(payload)
        (hlen,) = struct.unpack_from("<I", raw, 0)
        header = json.loads(raw[4 : 4 + hlen])
        with np.load(io.BytesIO(raw[4 + hlen :]), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        return str(header["scan_id"]), arrays, dict(header["attrs"])
    except (struct.error, ValueError, KeyError, OSError) as exc:
        raise JournalFormatError(f"scan record cannot be decoded: {exc}") from None
