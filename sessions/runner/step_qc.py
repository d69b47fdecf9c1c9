"""The checks of one step attempt, as pure functions of what was recorded between its start and its end.

`StreamTally` accumulates one stream chunk by chunk (bounded memory, whatever the step's length): samples in the
interval, holes in `device_seq`, per channel the raw minimum and maximum and the samples at the ADC limits, and
the rows with the plate loaded. The checks then judge it against the protocol's thresholds
(`sessions.protocol.QcDefaults` and the step's own `[steps.qc]`), each giving one line for the technician:

- `samples`: received against `nominal rate x (end - start)` (an irregular stream: at least one);
- `signal`: a channel whose peak-to-peak is at most `flat_ptp` carries nothing (an electrode off, a dead cell);
- `saturation`: the share of a channel's samples at the ADC limits (only where the limits are known);
- `jaw_opening`: the jaw stream's vertical range reaches `min_opening_mm` (the maximal opening was made and seen);
- `plate_loaded`: the plate carried at least `min_load_kg` for `min_loaded_share` of the step;
- `scans`: the captures the step expects arrived; `device_events`: disconnects, stalls, failed reads in the step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from acquisition.chunk import Chunk
from acquisition.events import Event
from acquisition.stream import StreamSpec
from sessions.protocol import ProtocolStep, QcDefaults, StreamQc
from sessions.runner.records import QcCheck

#: device events that fail a step's QC (the others in the step are listed, not judged)
FAULT_EVENTS = frozenset({"link.disconnected", "stream.stalled", "source.failed", "source.read_failed",
                          "scanner.poll_failed", "chunk.rejected", "reader.failed"})


class StreamTally:
    """One stream over one attempt `[t0, t1)` (the reader's convention: start inclusive, end exclusive)."""

    def __init__(self, spec: StreamSpec, t0: float, t1: float, *, limits: tuple[float, float] | None,
                 load_min_kg: float | None) -> None:
        self.spec, self.t0, self.t1 = spec, t0, t1
        c = spec.n_channels
        self.n = 0
        self.missing = 0  # holes in device_seq inside the interval
        self.latest_t = -np.inf  # newest sample time seen, in the interval or not: has the stream caught up?
        self.lo = np.full(c, np.inf)
        self.hi = np.full(c, -np.inf)
        self.at_limit = np.zeros(c, dtype=np.int64)
        self._limits = limits
        self._last_seq: int | None = None
        kg = [i for i, u in enumerate(spec.units) if u == "kg"]
        self._load_cols = kg if load_min_kg is not None and len(kg) == c else []
        self._load_min = load_min_kg
        self.loaded = 0

    @property
    def judges_load(self) -> bool:
        return bool(self._load_cols)

    def add(self, chunk: Chunk) -> None:
        if chunk.n == 0:
            return
        self.latest_t = max(self.latest_t, float(chunk.t_lsl[-1]))
        m = (chunk.t_lsl >= self.t0) & (chunk.t_lsl < self.t1)
        if not m.any():
            return
        data, seq = chunk.data[m], chunk.device_seq[m]
        self.n += len(seq)
        steps = np.diff(seq) if self._last_seq is None else np.diff(np.concatenate(([self._last_seq], seq)))
        self.missing += int(np.sum(steps[steps > 1] - 1))
        self._last_seq = int(seq[-1])
        f = data.astype(np.float64)
        self.lo = np.fmin(self.lo, np.nanmin(f, axis=0, initial=np.inf))
        self.hi = np.fmax(self.hi, np.nanmax(f, axis=0, initial=-np.inf))
        if self._limits is not None:
            self.at_limit += np.sum((f <= self._limits[0]) | (f >= self._limits[1]), axis=0)
        if self._load_cols:
            total = self.spec.to_physical(data)[:, self._load_cols].sum(axis=1)
            self.loaded += int(np.sum(total >= self._load_min))

    def ptp(self) -> np.ndarray:
        """Peak-to-peak per channel, raw units (NaN for a channel with no finite sample)."""
        out = self.hi - self.lo
        return np.where(np.isfinite(out), out, np.nan)


def applicable_limits(rules: StreamQc, spec: StreamSpec) -> tuple[float, float] | None:
    if rules.adc_limits is None or (rules.raw_units is not None and rules.raw_units != spec.raw_units):
        return None
    return rules.adc_limits


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def check_samples(t: StreamTally, *, min_share: float) -> QcCheck:
    name, rate = t.spec.name, t.spec.nominal_rate
    holes = f", {t.missing} missing in device_seq" if t.missing else ""
    if rate <= 0:
        ok = t.n > 0
        return QcCheck(check="samples", stream=name, status="pass" if ok else "fail", value=t.n, limit=1,
                       detail=f"{t.n} samples (irregular stream){holes}" if ok else "no samples received")
    expected = max(1.0, rate * (t.t1 - t.t0))
    share = t.n / expected
    detail = (f"{t.n} of {expected:.0f} expected samples received ({_pct(share)}, minimum {_pct(min_share)})"
              f"{holes}")
    return QcCheck(check="samples", stream=name, status="pass" if share >= min_share else "fail", detail=detail,
                   value=round(share, 4), limit=min_share)


def check_signal(t: StreamTally, rules: StreamQc, *, flat_ptp: float) -> QcCheck:
    spec = t.spec
    labels = list(spec.channels) if rules.signal_channels is None else [c for c in rules.signal_channels
                                                                         if c in spec.channels]
    if not labels:
        return QcCheck(check="signal", stream=spec.name, status="not_judged",
                       detail="no channel of this stream is judged for signal (protocol)")
    if t.n == 0:
        return QcCheck(check="signal", stream=spec.name, status="fail", detail="no signal: no samples received")
    ptp = t.ptp()
    flat = [c for c in labels if not ptp[spec.channels.index(c)] > flat_ptp]  # NaN (no finite value) is flat
    if flat:
        worst = flat[0]
        v = ptp[spec.channels.index(worst)]
        what = "no finite value" if np.isnan(v) else f"peak-to-peak {v:g} {spec.raw_units or 'raw units'}"
        return QcCheck(check="signal", stream=spec.name, status="fail", value=len(flat), limit=0,
                       detail=f"no signal on {', '.join(flat)} ({what} over {t.n} samples)")
    return QcCheck(check="signal", stream=spec.name, status="pass", value=0, limit=0,
                   detail=f"signal on {len(labels)} channel(s)")


def check_saturation(t: StreamTally, limits: tuple[float, float] | None, *, max_share: float) -> QcCheck:
    spec = t.spec
    if limits is None:
        return QcCheck(check="saturation", stream=spec.name, status="not_judged",
                       detail="no ADC limits known for this stream")
    if t.n == 0:
        return QcCheck(check="saturation", stream=spec.name, status="not_judged", detail="no samples to judge")
    shares = t.at_limit / t.n
    i = int(np.argmax(shares))
    ok = shares[i] <= max_share
    detail = (f"{spec.channels[i]} at the ADC limits [{limits[0]:g}, {limits[1]:g}] for {_pct(shares[i])} of "
              f"samples (maximum {_pct(max_share)})")
    return QcCheck(check="saturation", stream=spec.name, status="pass" if ok else "fail", detail=detail,
                   value=round(float(shares[i]), 4), limit=max_share)


def check_jaw_opening(tallies: Sequence[StreamTally], *, channel: str, min_mm: float) -> QcCheck:
    for t in tallies:
        if t.spec.kind != "jaw" or channel not in t.spec.channels:
            continue
        i = t.spec.channels.index(channel)
        scale = abs(t.spec.scale[i]) if t.spec.scale is not None else 1.0
        span = float(t.ptp()[i]) * scale if t.n else float("nan")
        ok = span >= min_mm
        return QcCheck(check="jaw_opening", stream=t.spec.name, status="pass" if ok else "fail",
                       value=None if np.isnan(span) else round(span, 2), limit=min_mm,
                       detail=(f"maximal opening seen: {channel} range {span:.1f} mm" if ok else
                               f"maximal opening not seen: {channel} range {span:.1f} mm, expected >= {min_mm:g} mm"))
    return QcCheck(check="jaw_opening", status="fail", limit=min_mm,
                   detail=f"maximal opening not judged: no jaw stream with channel {channel!r} was recorded")


def check_plate_loaded(tallies: Sequence[StreamTally], *, min_kg: float, min_share: float) -> list[QcCheck]:
    out = []
    for t in tallies:
        if not t.judges_load:
            continue
        share = t.loaded / t.n if t.n else 0.0
        ok = t.n > 0 and share >= min_share
        out.append(QcCheck(check="plate_loaded", stream=t.spec.name, status="pass" if ok else "fail",
                           value=round(share, 4), limit=min_share,
                           detail=f"plate loaded (>= {min_kg:g} kg) for {_pct(share)} of the step "
                                  f"(minimum {_pct(min_share)})"))
    if not out:
        out.append(QcCheck(check="plate_loaded", status="fail", limit=min_share,
                           detail="plate load not judged: no plate stream in kg was recorded"))
    return out


def check_scans(received: int, expected: int) -> QcCheck:
    if expected <= 0:
        return QcCheck(check="scans", status="not_judged", detail="no capture expected", value=received)
    ok = received >= expected
    return QcCheck(check="scans", status="pass" if ok else "fail", value=received, limit=expected,
                   detail=f"{received} of {expected} expected capture(s) ingested")


def check_device_events(events: Iterable[Event]) -> QcCheck:
    """Device happenings of the step's sources: a fault (`FAULT_EVENTS`) fails it, the rest are listed."""
    faults: Counter[str] = Counter()
    others: Counter[str] = Counter()
    for e in events:
        label = f"{e.name} ({e.stream or e.payload.get('source', '?')})"
        (faults if e.name in FAULT_EVENTS else others)[label] += 1
    listed = ", ".join(f"{k} x{n}" for k, n in (faults + others).most_common())
    if faults:
        return QcCheck(check="device_events", status="fail", value=sum(faults.values()), limit=0,
                       detail=f"device faults during the step: {listed}")
    return QcCheck(check="device_events", status="pass", value=0, limit=0,
                   detail=f"no device fault ({listed})" if others else "no device fault")


def step_rules(step: ProtocolStep, defaults: QcDefaults) -> tuple[float, float, float]:
    """(min_received_share, max_saturation_share, min_loaded_share) in force for `step`."""
    q = step.qc
    return (q.min_received_share if q.min_received_share is not None else defaults.min_received_share,
            q.max_saturation_share if q.max_saturation_share is not None else defaults.max_saturation_share,
            q.min_loaded_share if q.min_loaded_share is not None else defaults.min_loaded_share)
