"""The probe's work, run in a child process: open the file with HDF5 and walk its metadata (every group, dataset
shape and attribute name), reading no sample.

Standard library and h5py only: the spawned interpreter runs this file by path, so it must not import the
project (that would cost the import of pydantic and numpy, ~0.2 s, on every probe).
Output on stdout, one line: `ok <objects>` or `error <Type: first line of the message>`.
"""

from __future__ import annotations

import sys


def error_text(exc: BaseException) -> str:
    """Same form as `content_digest.error_text` (`Type: first line`, 200 characters at most)."""
    text = (str(exc).splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def walk(path: str) -> str:
    """One result line for `path` (never raises)."""
    try:
        import h5py

        with h5py.File(path, "r") as f:  # default locking, as the caller (a forked child shares its HDF5 state)
            n = [len(list(f.attrs.keys()))]

            def visit(_name: str, obj: object) -> None:
                n[0] += 1 + len(list(obj.attrs.keys()))  # type: ignore[attr-defined]
                if isinstance(obj, h5py.Dataset):
                    _ = obj.shape, obj.dtype

            f.visititems(visit)
        return f"ok {n[0]}"
    except Exception as exc:  # noqa: BLE001 - any failure is the probe's answer
        return f"error {error_text(exc)}"


if __name__ == "__main__":
    sys.stdout.write(walk(sys.argv[1]) + "\n")
    sys.stdout.flush()
