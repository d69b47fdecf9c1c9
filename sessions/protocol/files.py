"""A protocol file: its model, its exact text and the SHA-256 of its bytes, as they go into the visit file.

Why the hash is over the file's bytes and not a canonical form: anyone can check it with `sha256sum` against the
site's archived protocol file, and no second tool has to re-implement a canonicalisation to do so; the visit file
also stores the text itself (root attribute `protocol_toml`), so the hash is checked from the visit alone. The
price, that a changed comment changes the hash, is the point: a different file is a different protocol document.

Errors are one line naming the file and the first problem (`ProtocolError`). A key that looks like an allocation
(an arm, a randomisation group, a treatment) is refused by name before anything else: the trial is
quadruple-masked, and a protocol file is stored in every visit.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from acquisition.visitfile.reader import ProtocolStamp
from sessions.protocol.model import Protocol

#: the protocol shipped with the software (package data), named `default` in the visit files it runs
DEFAULT_PROTOCOL_FILE = "a_muse.toml"
DEFAULT_SOURCE = "default"
#: keys that would carry the allocation of a masked trial
_ALLOCATION_KEY = re.compile(r"(^|_)(arms?|random\w*|allocat\w*|treatment\w*|placebo\w*|unblind\w*)($|_)",
                             flags=re.IGNORECASE)
_MAX_BYTES = 256 * 1024


class ProtocolError(ValueError):
    """A protocol file was refused: one line naming the file and what is wrong."""


@dataclass(frozen=True)
class ProtocolFile:
    """A loaded protocol: the model, the file's text (exactly its bytes, UTF-8), their SHA-256, and the file's name
    (`source`: never its path, which is the exam-room PC's)."""

    protocol: Protocol
    text: str
    sha256: str
    source: str

    def stamp(self) -> ProtocolStamp:
        """The visit file's root attribute `protocol`."""
        return ProtocolStamp(name=self.protocol.name, version=self.protocol.protocol_version, sha256=self.sha256,
                             source=self.source)

    def label(self) -> str:
        """`A-MUSE 1.0 (default, sha256 1a2b3c4d5e6f)` for one-line messages."""
        return f"{self.protocol.name} {self.protocol.protocol_version} ({self.source}, sha256 {self.sha256[:12]})"


def _allocation_keys(node: Any, where: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            path = f"{where}.{k}" if where else str(k)
            if _ALLOCATION_KEY.search(str(k)):
                out.append(path)
            out += _allocation_keys(v, path)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _allocation_keys(v, f"{where}.{i}")
    return out


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e.get("loc", ())) or "protocol"
    msg = str(e.get("msg", "")).removeprefix("Value error, ")
    return f"{where}: {msg}"


def parse_protocol(data: bytes, *, source: str) -> ProtocolFile:
    """The protocol in `data` (a TOML file's bytes), named `source` in messages and in the visit files."""
    if len(data) > _MAX_BYTES:
        raise ProtocolError(f"protocol {source}: {len(data)} bytes, at most {_MAX_BYTES} expected for a TOML file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"protocol {source}: not UTF-8 text (byte {exc.start}); a TOML file is UTF-8") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"protocol {source}: not valid TOML ({exc})") from None
    if leaks := _allocation_keys(raw):
        raise ProtocolError(f"protocol {source}: key {leaks[0]!r} is refused: the randomisation arm is never asked "
                            "for, stored or shown (the trial is quadruple-masked)")
    try:
        protocol = Protocol.model_validate(raw)
    except ValidationError as exc:
        raise ProtocolError(f"protocol {source}: {_first_error(exc)}") from None
    return ProtocolFile(protocol=protocol, text=text, sha256=hashlib.sha256(data).hexdigest(), source=source)


def load_protocol(path: Path | str) -> ProtocolFile:
    """Read and check a site's protocol file (`source`: its file name)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ProtocolError(f"protocol {p}: cannot be read ({exc.strerror or exc})") from None
    return parse_protocol(data, source=p.name)


@lru_cache(maxsize=1)
def default_protocol() -> ProtocolFile:
    """The A-MUSE protocol shipped with the software (`sessions/protocol/a_muse.toml`)."""
    data = resources.files("sessions.protocol").joinpath(DEFAULT_PROTOCOL_FILE).read_bytes()
    return parse_protocol(data, source=DEFAULT_SOURCE)
