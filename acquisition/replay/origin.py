"""What a replay says about where its samples come from: the file replayed (`ReplayOf`) and the device identity of
each replayed stream.

A replayed stream keeps its original `StreamSpec` (channels, units, dtype, rate, scale and its citation) and the
original device's model, serial, firmware, vendor and `simulated` flag: outcomes and QC that read them see the
same device. Only `transport` changes, to `replay sha256:<first 16 hex>`: how the samples reached this recording,
which is from a file and not from the device. Never the file's name: it is the original's pseudonym and visit code,
and the transport is in every stream spec and every `source.started`, also of a replay recorded under another
subject. The whole SHA-256 is in the visit's root attribute `replay_of` (`acquisition.visitfile.schema.REPLAY_OF_ATTR`),
with the name only when the replay keeps the original's subject and visit.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from acquisition.stream import DeviceIdentity, StreamSpec
from acquisition.visitfile.reader import ReplayOf

__all__ = ["REPLAY_TRANSPORT_PREFIX", "ReplayOf", "file_sha256", "replay_origin", "replay_transport", "replayed_device",
           "replayed_spec"]

REPLAY_TRANSPORT_PREFIX = "replay sha256:"


def file_sha256(path: Path, *, block: int = 4 * 1024 * 1024) -> str:
    """SHA-256 of the file's bytes (what `MANIFEST.sha256` lists)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while buf := f.read(block):
            h.update(buf)
    return h.hexdigest()


def replay_origin(path: Path, *, keep_name: bool = True) -> ReplayOf:
    """The `replay_of` of a replay of `path`: the SHA-256 of its bytes, and its name if `keep_name` (the caller
    says whether the replay keeps the original's subject and visit)."""
    path = Path(path)
    return ReplayOf(file=path.name if keep_name else None, sha256=file_sha256(path))


def replay_transport(sha256: str) -> str:
    """`replay sha256:<first 16 hex>`: the transport of a device replayed from the file of that SHA-256."""
    return f"{REPLAY_TRANSPORT_PREFIX}{sha256[:16]}"


def replayed_device(device: DeviceIdentity, origin: ReplayOf) -> DeviceIdentity:
    """The original device, with the transport saying the samples are a replay of `origin`."""
    transport = replay_transport(origin.sha256)
    return device.model_copy(update={"transport": transport})


def replayed_spec(spec: StreamSpec, origin: ReplayOf) -> StreamSpec:
    """`spec` as the replay declares it: the same stream, from a replayed device (`replayed_device`)."""
    return spec.model_copy(update={"device": replayed_device(spec.device, origin)})
