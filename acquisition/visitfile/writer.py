"""Incremental HDF5 writer of one visit file.

Streams are appended in raw device units, chunked and compressed, with a chunk cache sized well above the chunk
size (compressed appends slow down ten-fold otherwise). While appending, the writer keeps a tally per stream:
sample count, block SHA-256 digests of the data / device_seq / t_lsl bytes in order (`digest.py`), and the gaps in
the sequence numbers. The seal step re-reads the file and checks it against these tallies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from acquisition.chunk import Chunk
from acquisition.events import Event
from acquisition.stream import StreamSpec
from acquisition.visitfile.content_digest import array_values_digest, digest_tree
from acquisition.visitfile.digest import BlockDigest, block_rows_for, root_of
from acquisition.visitfile.schema import (AUDIT_ENTRIES, AUDIT_GROUP, EVENT_DTYPE, GAP_DTYPE, GROUPS, OUTCOME_DTYPE,
                                         SCHEMA_VERSION)

_TARGET_CHUNK_BYTES = 256 * 1024


@dataclass
class StreamTally:
    """What the journal said about a stream, to check the file against."""

    n: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    gaps: list[tuple[int, int, float, float]] = field(default_factory=list)
    backwards: int = 0
    last_t: float | None = None
    first_t: float | None = None
    block_rows: int = 65536
    row_bytes: int = 1
    h_data: BlockDigest = field(init=False)
    h_seq: BlockDigest = field(init=False)
    h_t: BlockDigest = field(init=False)

    def __post_init__(self) -> None:
        self.h_data = BlockDigest(self.row_bytes, self.block_rows)
        self.h_seq = BlockDigest(8, self.block_rows)
        self.h_t = BlockDigest(8, self.block_rows)

    @property
    def missing(self) -> int:
        return int(sum(g[1] for g in self.gaps))

    def block_digests(self) -> dict[str, list[bytes]]:
        return {"data": self.h_data.digests(), "device_seq": self.h_seq.digests(), "t_lsl": self.h_t.digests()}

    def digests(self) -> dict[str, str]:
        """Root digest per dataset."""
        return {k: root_of(v) for k, v in self.block_digests().items()}


class _StreamBuffer:
    def __init__(self, spec: StreamSpec, group: h5py.Group, compression: dict[str, Any]) -> None:
        self.spec = spec
        self.group = group
        c = spec.n_channels
        item = spec.np_dtype.itemsize
        self.rows = max(256, _TARGET_CHUNK_BYTES // max(1, c * item))
        self.ds_data = group.create_dataset(
            "data", shape=(0, c), maxshape=(None, c), dtype=spec.np_dtype, chunks=(self.rows, c), **compression
        )
        self.ds_seq = group.create_dataset(
            "device_seq", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(max(self.rows, 4096),), **compression
        )
        self.ds_t = group.create_dataset(
            "t_lsl", shape=(0,), maxshape=(None,), dtype=np.float64, chunks=(max(self.rows, 4096),), **compression
        )
        self.ds_tread: h5py.Dataset | None = None
        self.compression = compression
        self.pending: list[Chunk] = []
        self.pending_n = 0
        self.written = 0
        self.row_bytes = c * item + 16  # data + device_seq + t_lsl

    def flush(self) -> None:
        if not self.pending:
            return
        chunks, self.pending, self.pending_n = self.pending, [], 0
        data = np.concatenate([c.data for c in chunks]) if len(chunks) > 1 else chunks[0].data
        seq = np.concatenate([c.device_seq for c in chunks])
        t = np.concatenate([c.t_lsl for c in chunks])
        n0, n1 = self.written, self.written + len(seq)
        for ds in (self.ds_data, self.ds_seq, self.ds_t):
            ds.resize(n1, axis=0)
        self.ds_data[n0:n1] = data
        self.ds_seq[n0:n1] = seq
        self.ds_t[n0:n1] = t
        if any(c.t_read is not None for c in chunks):
            if self.ds_tread is None:
                self.ds_tread = self.group.create_dataset(
                    "t_read", shape=(n0,), maxshape=(None,), dtype=np.float64, chunks=(max(self.rows, 4096),),
                    fillvalue=np.nan, **self.compression,
                )
            tr = np.concatenate([c.t_read if c.t_read is not None else np.full(c.n, np.nan) for c in chunks])
            self.ds_tread.resize(n1, axis=0)
            self.ds_tread[n0:n1] = tr
        elif self.ds_tread is not None:
            self.ds_tread.resize(n1, axis=0)  # fill value NaN: no read stamp for these samples
        self.written = n1

    @property
    def written_bytes(self) -> int:
        return self.written * self.row_bytes


class VisitFileWriter:
    """Writes `/streams`, `/events`, `/scans`, `/calibration`, `/outcomes`, `/qc` and the root attributes."""

    def __init__(
        self,
        path: Path,
        root_attrs: Mapping[str, Any],
        *,
        compression: str = "gzip",
        compression_level: int = 1,
        cache_bytes: int = 64 * 1024 * 1024,
        flush_rows: int | None = None,
    ) -> None:
        self.path = Path(path)
        self._f = h5py.File(self.path, "w-", rdcc_nbytes=cache_bytes, rdcc_w0=1.0, libver=("v110", "latest"))
        for g in GROUPS:
            self._f.create_group(g)
        self._f.attrs["schema_version"] = SCHEMA_VERSION
        for k, v in root_attrs.items():
            self._f.attrs[k] = v if not isinstance(v, (dict, list)) else json.dumps(v, sort_keys=True)
        if compression == "none":
            self._compression: dict[str, Any] = {}
        elif compression == "gzip":
            self._compression = {"compression": "gzip", "compression_opts": compression_level, "shuffle": True}
        elif compression == "lzf":
            self._compression = {"compression": "lzf", "shuffle": True}
        else:
            raise ValueError(f"unknown compression {compression!r} (gzip, lzf, none)")
        self._streams: dict[str, _StreamBuffer] = {}
        self.tallies: dict[str, StreamTally] = {}
        self._events = self._f["events"].create_dataset(
            "table", shape=(0,), maxshape=(None,), dtype=EVENT_DTYPE, chunks=(1024,), **self._compression
        )
        self.n_events = 0
        self._known_values: dict[str, bytes] = {}  # dataset path -> values digest taken when it was written
        self._flush_rows = flush_rows
        self._flushed_bytes = 0

    # -- streams ---------------------------------------------------------------------------------
    def add_stream(self, spec: StreamSpec) -> None:
        if spec.name in self._streams:
            if self._streams[spec.name].spec != spec:
                raise ValueError(f"stream {spec.name!r} declared twice with different descriptions")
            return
        g = self._f["streams"].create_group(spec.name)
        a = g.attrs
        a["kind"] = spec.kind
        a["channels"] = json.dumps(list(spec.channels))
        a["units"] = json.dumps(list(spec.units))
        a["dtype"] = spec.dtype
        a["raw_units"] = spec.raw_units
        a["nominal_rate"] = spec.nominal_rate
        a["scale"] = json.dumps(list(spec.scale) if spec.scale is not None else None)
        a["offset"] = json.dumps(list(spec.offset) if spec.offset is not None else None)
        a["scale_source"] = spec.scale_source
        a["device"] = spec.device.model_dump_json()
        a["spec"] = spec.model_dump_json()
        buf = _StreamBuffer(spec, g, self._compression)
        self._streams[spec.name] = buf
        row_bytes = spec.n_channels * spec.np_dtype.itemsize
        self.tallies[spec.name] = StreamTally(row_bytes=row_bytes, block_rows=block_rows_for(row_bytes, buf.rows))

    def append(self, chunk: Chunk) -> None:
        buf = self._streams.get(chunk.stream)
        if buf is None:
            raise KeyError(f"chunk for undeclared stream {chunk.stream!r}")
        if chunk.data.shape[1] != buf.spec.n_channels or chunk.data.dtype != buf.spec.np_dtype:
            raise ValueError(
                f"chunk of {chunk.stream!r} has shape {chunk.data.shape} {chunk.data.dtype}, "
                f"stream declares {buf.spec.n_channels} x {buf.spec.dtype}"
            )
        if chunk.n == 0:
            return
        tally = self.tallies[chunk.stream]
        seq = chunk.device_seq
        if tally.last_seq is not None:
            prev_seq = np.concatenate(([tally.last_seq], seq))
            prev_t = np.concatenate(([tally.last_t], chunk.t_lsl))
        else:
            tally.first_seq = int(seq[0])
            tally.first_t = float(chunk.t_lsl[0])
            prev_seq, prev_t = seq, chunk.t_lsl
        steps = np.diff(prev_seq)
        if steps.size and (steps != 1).any():
            for i in np.flatnonzero(steps != 1):
                if steps[i] > 1:
                    tally.gaps.append((int(prev_seq[i]), int(steps[i] - 1), float(prev_t[i]), float(prev_t[i + 1])))
                else:
                    tally.backwards += 1
        tally.n += chunk.n
        tally.last_seq = int(seq[-1])
        tally.last_t = float(chunk.t_lsl[-1])
        tally.h_data.update(np.ascontiguousarray(chunk.data).data)
        tally.h_seq.update(seq.data)
        tally.h_t.update(chunk.t_lsl.data)
        buf.pending.append(chunk)
        buf.pending_n += chunk.n
        if buf.pending_n >= (self._flush_rows or buf.rows):
            buf.flush()

    @property
    def unflushed_bytes(self) -> int:
        """Sample bytes written into the datasets since the last HDF5 flush (dirty in HDF5's chunk cache)."""
        return sum(b.written_bytes for b in self._streams.values()) - self._flushed_bytes

    def flush(self, *, hdf5: bool = True) -> None:
        """Write buffered samples into the datasets; with `hdf5`, also flush HDF5's caches to the OS (not fsync:
        the journal is the durable record while open). The HDF5 flush compresses and writes every dirty chunk,
        rewriting partly filled ones, so the background compactor does it only when enough is dirty (the
        partial file is never trusted after a crash: the journal is)."""
        for buf in self._streams.values():
            buf.flush()
        if hdf5:
            self._f.flush()
            self._flushed_bytes = sum(b.written_bytes for b in self._streams.values())

    # -- events, scans, calibration, outcomes, qc ------------------------------------------------------
    def add_events(self, events: Iterable[Event]) -> None:
        rows = [
            (e.t_lsl, e.utc, e.kind, e.name, e.stream, e.step, json.dumps(e.payload, sort_keys=True, default=str))
            for e in events
        ]
        if not rows:
            return
        arr = np.array(rows, dtype=EVENT_DTYPE)
        n0 = self.n_events
        self._events.resize(n0 + len(arr), axis=0)
        self._events[n0:] = arr
        self.n_events += len(arr)

    def add_scan(self, scan_id: str, arrays: Mapping[str, np.ndarray], attrs: Mapping[str, Any]) -> str:
        """Store one capture; a retake with an id already used gets a suffix (`_r2`, ...), never overwrites."""
        scans = self._f["scans"]
        gid, k = scan_id, 1
        while gid in scans:
            k += 1
            gid = f"{scan_id}_r{k}"
        g = scans.create_group(gid)
        for name, arr in arrays.items():
            arr = np.asarray(arr)
            opts = self._compression if arr.size > 1024 else {}
            ds = g.create_dataset(name, data=arr, **opts)
            # its leaf of the digest tree, from the array in hand: `finish()` does not read it back (the seal does)
            if ds.dtype == arr.dtype and ds.shape == arr.shape and (d := array_values_digest(arr)) is not None:
                self._known_values[ds.name] = d
        for k, v in attrs.items():
            g.attrs[k] = v if isinstance(v, (str, int, float, bool, np.number)) else json.dumps(v, default=str)
        return gid

    def write_calibration(self, records: Iterable[Mapping[str, Any]]) -> None:
        g = self._f["calibration"]
        for i, rec in enumerate(records):
            name = str(rec.get("id") or f"record_{i:03d}")
            g.attrs[name] = json.dumps(rec, sort_keys=True, default=str)

    def write_outcomes(self, rows: Iterable[tuple[str, str, float, str, str]]) -> None:
        rows = list(rows)
        arr = np.array(rows, dtype=OUTCOME_DTYPE) if rows else np.zeros(0, dtype=OUTCOME_DTYPE)
        if "table" in self._f["outcomes"]:
            del self._f["outcomes"]["table"]
        self._f["outcomes"].create_dataset("table", data=arr)

    def write_audit(self, lines: Sequence[str]) -> None:
        """`/audit/entries`: the visit's audit entries, one stored line each, in chain order (empty without any)."""
        g = self._f.require_group(AUDIT_GROUP)
        g.create_dataset(AUDIT_ENTRIES, data=np.array(list(lines), dtype=object), shape=(len(lines),),
                         dtype=h5py.string_dtype("utf-8"))
        g.attrs["n_entries"] = len(lines)

    def write_qc(self, summary: Mapping[str, Any]) -> None:
        g = self._f["qc"]
        for k, v in summary.items():
            g.attrs[k] = json.dumps(v, sort_keys=True, default=str)

    # -- finish ----------------------------------------------------------------------------------
    def finish(self, closing_attrs: Mapping[str, Any]) -> None:
        """Flush, write per-stream tallies (counts, hashes, gaps) and closing attributes, then the content digest
        tree over all of it (`content_digest.py`), close the file."""
        self.flush()
        for name, buf in self._streams.items():
            tally = self.tallies[name]
            g = buf.group
            g.attrs["n_samples"] = tally.n
            g.attrs["sha256"] = json.dumps(tally.digests(), sort_keys=True)
            blocks = tally.block_digests()
            nb = len(blocks["data"])
            table = np.zeros((nb, 3, 32), dtype=np.uint8)
            for j, ds_name in enumerate(("data", "device_seq", "t_lsl")):
                if nb:
                    table[:, j, :] = np.frombuffer(b"".join(blocks[ds_name]), dtype=np.uint8).reshape(nb, 32)
            dg = g.create_dataset("digests", data=table)
            dg.attrs["block_rows"] = tally.block_rows
            dg.attrs["columns"] = json.dumps(["data", "device_seq", "t_lsl"])
            gaps = np.array(tally.gaps, dtype=GAP_DTYPE) if tally.gaps else np.zeros(0, dtype=GAP_DTYPE)
            g.create_dataset("gaps", data=gaps)
            g.attrs["samples_missing"] = tally.missing
        self._f.attrs["n_events"] = self.n_events
        for k, v in closing_attrs.items():
            self._f.attrs[k] = v if not isinstance(v, (dict, list)) else json.dumps(v, sort_keys=True, default=str)
        # last: the digest tree over everything written above (stream samples by their block digests)
        tree = digest_tree(self._f, known_values=self._known_values)
        if tree.root is None:
            raise RuntimeError(f"{self.path.name}: content digest tree cannot be computed: {'; '.join(tree.problems)}")
        self._f.attrs["content_digests"] = tree.nodes_json()
        self._f.attrs["content_sha256"] = tree.root
        self._f.close()

    def abort(self) -> None:
        try:
            self._f.close()
        except Exception:  # noqa: BLE001 - closing a broken file during an abort
            pass
