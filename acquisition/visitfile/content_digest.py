"""The digest tree of a visit file: one SHA-256 over everything it holds, so the file checks itself.

Stream samples are already hashed block by block as they are appended (`digest.py`); every other dataset and every
attribute (identity, scale and offset, events, scans, calibration, QC, outcomes, gaps) is hashed here, at `finish()`
and again by `verify`, by re-reading it from the file. Re-reading the small objects costs milliseconds; the big
stream datasets are never re-read here: their leaf is the root of their block digests, which `verify` checks
against the samples separately (in two processes for a big file). The scans' meshes and photos are hashed by the
writer from the arrays it stores (`array_values_digest`, passed to `digest_tree` as `known_values`), not read back
and inflated at `finish()`: the seal's `verify` is then the one re-read of those bytes, from disk, against digests
of what the writer was given (the same bytes are never hashed twice in one process, and a write that stored
something else fails the seal).

Canonical form (also in docs/file-format.md, "The digest tree"):

- `enc(s)` = u64 little-endian byte length, then the UTF-8 bytes; a digest is 32 raw bytes.
- a value (attribute value, or one element of a string field) is `enc(tag)` then its bytes: `str` -> `enc(text)`;
  `bytes` -> `enc`-style length + bytes; a number or bool array -> `enc(dtype)` (little-endian numpy string,
  e.g. `<f8`, `|b1`), `enc(shape)` (JSON list) and the little-endian C-order bytes; a list of strings ->
  `enc(shape)` then each element as a value; an empty attribute -> `enc(dtype)`.
- `attrs(obj)` = SHA256(`"attrs"` + for each attribute name in sorted order: `enc(name)` + value).
- a node is SHA256(kind + body + `attrs(obj)`), kind `"dataset"` or `"group"`.
- body of a dataset = SHA256(`enc(dtype)` + `enc(shape)` + content), where content is the root of the block
  digests for `/streams/<s>/{data,device_seq,t_lsl}` (their column of `/streams/<s>/digests`), and otherwise
  SHA256 of the values: numbers as little-endian C-order bytes; a compound dataset field by field (in dtype order),
  each field `enc(name)` + SHA256 of that field's column (string elements `enc`-ed, without tag).
- body of a group = SHA256(`"members"` + for each child name in sorted order: `enc(name)` + the child's node).
- `content_sha256` (root attribute) = hex of the root group's node, with the root attributes `content_sha256`
  and `content_digests` left out. `content_digests` (JSON) records `[body, attrs]` hex digests per object path,
  so `verify` names the object that changed and whether its values or its attributes did.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator, Mapping
from typing import Any

import h5py
import numpy as np
from pydantic import BaseModel, Field

from acquisition.visitfile.digest import root_of
from acquisition.visitfile.schema import STREAM_DATASETS

#: root attributes that hold the tree itself, left out of it
TREE_ATTRS = ("content_sha256", "content_digests")

_SLAB_BYTES = 8 * 1024 * 1024


class DigestTree(BaseModel):
    """Digests of every object of a file, by path. `root` is None when some object could not be read."""

    root: str | None
    nodes: dict[str, tuple[str, str]] = Field(default_factory=dict, description="path -> (body hex, attrs hex)")
    problems: list[str] = Field(default_factory=list, description="objects that could not be read, by path")
    unreadable: list[str] = Field(default_factory=list, description="paths of the objects in `problems`")
    n_attrs: int = 0

    def nodes_json(self) -> str:
        return json.dumps({k: list(v) for k, v in sorted(self.nodes.items())}, separators=(",", ":"))


def _enc(s: str | bytes) -> bytes:
    b = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def error_text(exc: BaseException) -> str:
    """`Type: first line of the message`, at most 200 characters: h5py errors span several lines."""
    text = (str(exc).splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def dtype_desc(dt: np.dtype) -> str:
    """A stable, byte-order-free name of a dtype as h5py reads it back (`<f8`, `str:utf-8`, `{t:<f8,...}`)."""
    if dt.names:
        return "{" + ",".join(f"{n}:{dtype_desc(dt.fields[n][0])}" for n in dt.names) + "}"
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        return f"{dtype_desc(base)}{list(shape)}"
    info = h5py.check_string_dtype(dt)
    if info is not None:
        return f"str:{info.encoding}" + ("" if info.length is None else f":{info.length}")
    if dt.kind == "O":
        raise TypeError(f"no canonical form for object dtype {dt!r}")
    return dt.newbyteorder("<").str


def _le_bytes(a: np.ndarray) -> bytes:
    if a.dtype.itemsize > 1 and a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return np.ascontiguousarray(a).tobytes()


def value_bytes(v: Any) -> bytes:
    """Canonical bytes of one attribute value as h5py returns it."""
    if isinstance(v, str):
        return _enc("str") + _enc(v)
    if isinstance(v, (bytes, np.bytes_)):
        return _enc("bytes") + _enc(bytes(v))
    if isinstance(v, h5py.Empty):
        return _enc("empty") + _enc(str(v.dtype))
    a = np.asarray(v)
    if a.dtype.kind in "OUS":
        return (_enc("list") + _enc(json.dumps(list(a.shape)))
                + b"".join(value_bytes(x) for x in a.reshape(-1).tolist()))
    return _enc(dtype_desc(a.dtype)) + _enc(json.dumps(list(a.shape))) + _le_bytes(a)


def _element(x: Any) -> bytes:
    return _enc(x if isinstance(x, (str, bytes)) else bytes(x))


def _values_digest(ds: h5py.Dataset) -> bytes:
    """SHA-256 of a dataset's values, read in slabs of about 8 MiB (the result does not depend on the slabs)."""
    dt = ds.dtype
    if ds.shape is None:  # null dataspace
        return hashlib.sha256(b"null").digest()
    if ds.ndim == 0:
        slabs: Iterator[Any] = iter([np.asarray(ds[()]).reshape(1)])
    else:
        row = max(1, dt.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64)))
        step = max(1, _SLAB_BYTES // row)
        slabs = (ds[i : i + step] for i in range(0, ds.shape[0], step))
    fields: list[str | None] = list(dt.names) if dt.names else [None]
    hashers = {f: hashlib.sha256() for f in fields}
    for slab in slabs:
        for f in fields:
            col = np.asarray(slab if f is None else slab[f])
            sub = dt if f is None else dt.fields[f][0]
            if h5py.check_string_dtype(sub) is not None or sub.kind == "O":
                hashers[f].update(b"".join(_element(x) for x in col.reshape(-1).tolist()))
            else:
                hashers[f].update(_le_bytes(col))
    if dt.names is None:
        return hashers[None].digest()
    h = hashlib.sha256(b"fields")
    for f in fields:
        h.update(_enc(str(f)) + hashers[f].digest())
    return h.digest()


def array_values_digest(a: np.ndarray) -> bytes | None:
    """What `_values_digest` gives for a dataset holding exactly `a`, computed from memory: for an array of numbers
    or bools with at least one dimension (not compound, not strings); None for any other."""
    if a.dtype.names is not None or a.dtype.kind not in "biuf" or a.ndim == 0:
        return None
    return hashlib.sha256(_le_bytes(a)).digest()


def block_root(g: h5py.Group, ds_name: str) -> bytes:
    """Root of the recorded block digests of a stream dataset: its column of `/streams/<s>/digests`."""
    table = g["digests"]
    cols = json.loads(table.attrs.get("columns", json.dumps(list(STREAM_DATASETS))))
    arr = table[:]
    j = cols.index(ds_name)
    return bytes.fromhex(root_of([arr[i, j].tobytes() for i in range(arr.shape[0])]))


def is_block_hashed(path: str) -> bool:
    """`/streams/<s>/data|device_seq|t_lsl`: hashed by blocks as appended, not re-read for the tree."""
    parts = path.split("/")
    return len(parts) == 4 and parts[1] == "streams" and parts[3] in STREAM_DATASETS


class _Walker:
    def __init__(self, known_values: Mapping[str, bytes]) -> None:
        self.tree = DigestTree(root=None)
        self._known = known_values

    def _fail(self, path: str, what: str, exc: BaseException) -> None:
        self.tree.problems.append(f"{path}: {what} ({error_text(exc)})")
        self.tree.unreadable.append(path)

    def _attrs(self, obj: h5py.HLObject, path: str) -> bytes | None:
        skip = TREE_ATTRS if path == "/" else ()
        h = hashlib.sha256(b"attrs")
        try:
            attrs = obj.attrs  # one AttributeManager for all of them: `obj.attrs` builds a new one at every access
            names = sorted(n for n in attrs.keys() if n not in skip)
        except Exception as exc:  # noqa: BLE001 - a damaged object header can raise anything from h5py
            self._fail(path, "attributes cannot be listed", exc)
            return None
        ok = True
        for n in names:
            try:
                h.update(_enc(n) + value_bytes(attrs[n]))
            except Exception as exc:  # noqa: BLE001
                self._fail(path, f"attribute {n!r} cannot be read", exc)
                ok = False
        self.tree.n_attrs += len(names)
        return h.digest() if ok else None

    def node(self, obj: h5py.HLObject, path: str) -> bytes | None:
        attrs = self._attrs(obj, path)
        if isinstance(obj, h5py.Dataset):
            kind, body = b"dataset", self._dataset_body(obj, path)
        else:
            kind, body = b"group", self._group_body(obj, path)  # type: ignore[arg-type]
        if body is None or attrs is None:
            return None
        self.tree.nodes[path] = (body.hex(), attrs.hex())
        return hashlib.sha256(kind + body + attrs).digest()

    def _group_body(self, g: h5py.Group, path: str) -> bytes | None:
        h = hashlib.sha256(b"members")
        try:
            names = sorted(g.keys())
        except Exception as exc:  # noqa: BLE001
            self._fail(path, "members cannot be listed", exc)
            return None
        ok = True
        for n in names:
            child_path = f"{path.rstrip('/')}/{n}"
            try:
                child = g[n]
            except Exception as exc:  # noqa: BLE001
                self._fail(child_path, "cannot be opened", exc)
                ok = False
                continue
            d = self.node(child, child_path)
            if d is None:
                ok = False
            else:
                h.update(_enc(n) + d)
        return h.digest() if ok else None

    def _dataset_body(self, ds: h5py.Dataset, path: str) -> bytes | None:
        block_hashed = is_block_hashed(path)
        try:
            head = _enc(dtype_desc(ds.dtype)) + _enc(json.dumps(list(ds.shape or ())))
            if block_hashed:
                content = block_root(ds.parent, ds.name.rsplit("/", 1)[1])
            else:
                known = self._known.get(path)
                content = known if known is not None else _values_digest(ds)
        except Exception as exc:  # noqa: BLE001
            self._fail(path, "its block digests (digests table) cannot be read" if block_hashed
                       else "its values cannot be read", exc)
            return None
        return hashlib.sha256(head + content).digest()


def digest_tree(f: h5py.File, *, known_values: Mapping[str, bytes] | None = None) -> DigestTree:
    """Hash every object of `f` (open for reading, or still open for writing at `finish()`). Never raises on a
    damaged file: what cannot be read is listed in `problems` and the root is None.

    `known_values`: the values digest (`array_values_digest`) of datasets by path, taken by the writer from the
    arrays it stored, used instead of reading them back; only the writer passes it (`verify` and the reader
    always re-read)."""
    w = _Walker(known_values or {})
    root = w.node(f, "/")
    w.tree.root = None if (root is None or w.tree.problems) else root.hex()
    return w.tree


def compare_trees(recorded: dict[str, tuple[str, str]], current: DigestTree) -> list[str]:
    """One line per object that differs from the recorded tree: added, removed, values or attributes changed.
    A group whose members changed is not named itself (its changed member is); unreadable objects are skipped
    (reported by `digest_tree`)."""
    out: list[str] = []

    def _within(p: str, q: str) -> bool:
        return p == q or p.startswith(q.rstrip("/") + "/")

    def near_unreadable(p: str) -> bool:
        """p is, is inside, or holds an object that could not be read."""
        return any(_within(p, u) or _within(u, p) for u in current.unreadable)

    every = set(recorded) | set(current.nodes)

    for p in sorted(every):
        rec, cur = recorded.get(p), current.nodes.get(p)
        if rec is not None and cur is not None:
            rec_body, rec_attrs = rec
            cur_body, cur_attrs = cur
            if rec_attrs != cur_attrs:
                out.append(f"{p}: attributes differ from the recorded digest tree")
            if rec_body != cur_body and not any(q != p and _within(q, p) for q in every):
                out.append(f"{p}: values differ from the recorded digest tree (values, dtype or shape)")
        elif near_unreadable(p):
            continue
        elif rec is None:
            out.append(f"{p}: not in the recorded digest tree (added after the file was written)")
        else:
            out.append(f"{p}: in the recorded digest tree but not in the file (removed)")
    return out
