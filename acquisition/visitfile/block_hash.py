"""Re-read and hash the blocks of every stream's `data`, `device_seq` and `t_lsl`, in one or two processes.

A damaged chunk makes HDF5 raise ("filter returned failure during read"); that is a result here, not a crash:
each (stream, block, dataset) yields either its SHA-256 or the one-line read error, so `verify` reports the
damaged block and goes on with the others. A worker process that dies (HDF5 can abort on a badly damaged file)
turns its share into errors the same way.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor

import h5py
import numpy as np

from acquisition.visitfile.content_digest import error_text
from acquisition.visitfile.schema import STREAM_DATASETS

Task = tuple[str, int, int]  # (stream, block index, block_rows)
#: per dataset of STREAM_DATASETS: the block's 32-byte SHA-256, or the read error (str)
BlockResult = list[bytes | str]


def hash_blocks(path: str, tasks: list[Task]) -> dict[tuple[str, int], BlockResult]:
    """SHA-256 of the rows of each (stream, block) of `data`, `device_seq`, `t_lsl`, re-read from the file."""
    out: dict[tuple[str, int], BlockResult] = {}
    try:
        f = h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001 - reported per block by the caller
        return {(name, i): [f"file cannot be opened ({error_text(exc)})"] * len(STREAM_DATASETS)
                for name, i, _ in tasks}
    with f:
        for name, i, rows in tasks:
            sl = slice(i * rows, (i + 1) * rows)
            res: BlockResult = []
            for ds in STREAM_DATASETS:
                try:
                    res.append(hashlib.sha256(np.ascontiguousarray(f["streams"][name][ds][sl]).data).digest())
                except Exception as exc:  # noqa: BLE001 - a damaged chunk raises OSError, other damage other things
                    res.append(f"cannot be read ({error_text(exc)})")
            out[(name, i)] = res
    return out


def hash_all(path: str, tasks: list[Task], weights: list[int], *, parallel: bool,
             min_parallel_bytes: int) -> dict[tuple[str, int], BlockResult]:
    """Hash every block; with `parallel` and enough bytes, about half of them in a worker process (2 cores here)."""
    if not parallel or sum(weights) < min_parallel_bytes or (os.cpu_count() or 1) < 2 or len(tasks) < 2:
        return hash_blocks(path, tasks)
    # greedy split into two halves of about equal bytes
    mine: list[Task] = []
    theirs: list[Task] = []
    a = b = 0
    for task, w in sorted(zip(tasks, weights), key=lambda tw: -tw[1]):
        if a <= b:
            mine.append(task)
            a += w
        else:
            theirs.append(task)
            b += w
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        fut = pool.submit(hash_blocks, path, theirs)
        out = hash_blocks(path, mine)
        try:
            out.update(fut.result())
        except Exception as exc:  # noqa: BLE001 - BrokenProcessPool when the worker died on the damage
            msg = f"not checked: the hashing worker process failed ({error_text(exc)})"
            out.update({(name, i): [msg] * len(STREAM_DATASETS) for name, i, _ in theirs})
    return out
