"""Block digests of a stream's datasets: SHA-256 per block of rows, and a root digest over the blocks.

A stream's `data`, `device_seq` and `t_lsl` are hashed in blocks of `block_rows` rows (the same row ranges for
the three), so the file can be checked in parallel and piece by piece. The root digest of a dataset is
SHA-256 of the concatenated 32-byte block digests. Bytes are the rows in order, C order, little-endian, in the
dataset's dtype, exactly as stored. These roots are the leaves of the file's content digest tree
(`content_digest.py`) for the stream samples, which the tree never re-reads.
"""

from __future__ import annotations

import hashlib

_TARGET_BLOCK_BYTES = 8 * 1024 * 1024


def block_rows_for(row_bytes: int, chunk_rows: int) -> int:
    """Rows per digest block: about 8 MiB of `data`, a whole number of HDF5 chunks."""
    rows = max(chunk_rows, _TARGET_BLOCK_BYTES // max(1, row_bytes))
    return max(chunk_rows, (rows // chunk_rows) * chunk_rows)


class BlockDigest:
    """Incremental SHA-256 per block of `block_rows` rows of `row_bytes` each."""

    def __init__(self, row_bytes: int, block_rows: int) -> None:
        if row_bytes <= 0 or block_rows <= 0:
            raise ValueError("row_bytes and block_rows must be positive")
        self.block_bytes = row_bytes * block_rows
        self._cur = hashlib.sha256()
        self._cur_bytes = 0
        self.blocks: list[bytes] = []

    def update(self, buf: bytes | memoryview) -> None:
        mv = memoryview(buf).cast("B")
        while len(mv):
            take = min(len(mv), self.block_bytes - self._cur_bytes)
            self._cur.update(mv[:take])
            self._cur_bytes += take
            mv = mv[take:]
            if self._cur_bytes == self.block_bytes:
                self.blocks.append(self._cur.digest())
                self._cur = hashlib.sha256()
                self._cur_bytes = 0

    def digests(self) -> list[bytes]:
        """Digest of every block so far, the partial last block included."""
        return self.blocks + ([self._cur.copy().digest()] if self._cur_bytes else [])

    def root(self) -> str:
        return root_of(self.digests())


def root_of(block_digests: list[bytes]) -> str:
    return hashlib.sha256(b"".join(block_digests)).hexdigest()
