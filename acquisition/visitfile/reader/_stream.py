"""One recorded stream, read lazily: nothing but its attributes is read until rows are asked for."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from pydantic import ValidationError

from acquisition.stream import StreamSpec
from acquisition.visitfile.reader._errors import VisitFileDamaged
from acquisition.visitfile.reader._models import Gap, Samples


def text(v: object) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


class StreamView:
    """`/streams/<name>`: its `StreamSpec` (from the stored `spec` attribute) and its rows by index or time.

    Indices are rows of the stream (0 .. n_samples), half-open like Python slices; times are on the LSL clock
    (`t_lsl`), half-open too: `read_time(t0, t1)` gives the rows with `t0 <= t_lsl < t1`.
    """

    def __init__(self, path: Path, group: h5py.Group, name: str) -> None:
        self.name = name
        self._g = group
        self._path = path
        try:
            self.spec = StreamSpec.model_validate_json(text(group.attrs["spec"]))
        except (KeyError, ValidationError, ValueError) as exc:
            first = str(exc).splitlines()[0][:200]
            raise VisitFileDamaged(path, f"/streams/{name}: the stored stream description (attribute 'spec') "
                                         f"is missing or does not parse ({type(exc).__name__}: {first})") from None
        self._t: np.ndarray | None = None
        self._t_sorted: bool | None = None

    def __repr__(self) -> str:
        return f"StreamView({self.name!r}, {self.n_samples} samples, {self.spec.n_channels} ch {self.spec.dtype})"

    # -- sizes and bookkeeping -------------------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return int(self._g["data"].shape[0])

    def __len__(self) -> int:
        return self.n_samples

    @property
    def samples_missing(self) -> int:
        """Samples missing by `device_seq` (the sum of `gaps`), as the writer counted them."""
        return int(self._g.attrs.get("samples_missing", sum(g.missing for g in self.gaps)))

    @property
    def gaps(self) -> list[Gap]:
        if "gaps" not in self._g:
            return []
        rows = self._g["gaps"][:]
        return [Gap(after_seq=int(r["after_seq"]), missing=int(r["missing"]), t_before=float(r["t_before"]),
                    t_after=float(r["t_after"])) for r in rows]

    @property
    def has_t_read(self) -> bool:
        return "t_read" in self._g

    # -- rows by index ---------------------------------------------------------------------------------------
    def _slice(self, start: int | None, stop: int | None) -> slice:
        s = slice(start, stop).indices(self.n_samples)
        return slice(s[0], max(s[0], s[1]))

    def read(self, start: int | None = None, stop: int | None = None, *, physical: bool = False) -> np.ndarray:
        """Rows `start:stop` of `data` (n × channels): raw device units, or physical units with `physical`
        (`raw * scale + offset`, float64, in `spec.units`)."""
        raw = self._g["data"][self._slice(start, stop)]
        return self.spec.to_physical(raw) if physical else raw

    def physical(self, start: int | None = None, stop: int | None = None) -> np.ndarray:
        """`read(start, stop, physical=True)`."""
        return self.read(start, stop, physical=True)

    def t_lsl(self, start: int | None = None, stop: int | None = None) -> np.ndarray:
        if self._t is not None:
            return self._t[self._slice(start, stop)]
        return self._g["t_lsl"][self._slice(start, stop)]

    def device_seq(self, start: int | None = None, stop: int | None = None) -> np.ndarray:
        return self._g["device_seq"][self._slice(start, stop)]

    def t_read(self, start: int | None = None, stop: int | None = None) -> np.ndarray | None:
        """Raw host read stamps (NaN where unknown), or None if the stream has none."""
        if "t_read" not in self._g:
            return None
        return self._g["t_read"][self._slice(start, stop)]

    # -- rows by time ----------------------------------------------------------------------------------------
    def index_range(self, t0: float, t1: float) -> tuple[int, int]:
        """(start, stop) of the rows with `t0 <= t_lsl < t1`. `t_lsl` is read once and kept (8 bytes a
        sample). It is non-decreasing for counted devices (binary search); for a stream whose stamps step back
        (raw LSL inlet stamps can), the range spans the first to the last row inside the interval."""
        if self._t is None:
            self._t = self._g["t_lsl"][:]
            self._t_sorted = bool(self._t.size < 2 or (np.diff(self._t) >= 0).all())
        t = self._t
        if self._t_sorted:
            return int(np.searchsorted(t, t0, "left")), int(np.searchsorted(t, t1, "left"))
        inside = np.flatnonzero((t >= t0) & (t < t1))
        return (int(inside[0]), int(inside[-1]) + 1) if inside.size else (0, 0)

    def read_time(self, t0: float, t1: float, *, physical: bool = False) -> Samples:
        """The rows with `t0 <= t_lsl < t1`: their times, sequence numbers and values (raw, or physical)."""
        i0, i1 = self.index_range(t0, t1)
        return Samples(t_lsl=self.t_lsl(i0, i1), device_seq=self.device_seq(i0, i1),
                       data=self.read(i0, i1, physical=physical), start=i0)
