"""`amuse-acq rig check`: open every device of the rig, say what answered, and a second of its signal.

Per device: model, serial, firmware, link, and per stream a short summary over about a second (samples, rate,
physical min..max per channel, flags `flat` (one value only), `saturated` (codes at the ADC limits, where the
driver says them), `no value` (NaN only: a tracker tool out of the field)). A device that cannot be built or opened,
answers with another serial than `expected_serial`, or sends nothing, is a problem: one line naming it, and the
command exits 1. Flags are said, not failed: an unloaded plate may well be flat.

The devices are opened one by one (a BITalino board alone, so the line names the missing board), then read
together for the window, then closed, all of them, whatever happened. Do not run it during a visit: it opens the
same ports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict
from serial.tools import list_ports

from acquisition.clock import local_clock
from acquisition.events import LINK_DISCONNECTED, LINK_RECONNECTED
from acquisition.source import Source, SourceError
from acquisition.stream import DeviceIdentity, StreamSpec
from sessions.rig.build import AnySource, build_device, identity_problem, raw_limits
from sessions.rig.config import RigConfig, RigDevice
from sessions.rig.ports import Comports

_MAX_CHANNELS_SHOWN = 6
#: a status word (the tracker's port and system status) is meant to stay the same: never flagged flat
_STATUS_UNITS = ("bits", "code")
#: the standard counters (acquisition.events.CounterName) that count a fault, said when not 0
_FAULT_COUNTERS = ("gaps", "samples_lost", "crc_errors", "malformed_frames", "truncated_frames", "resyncs",
                   "disconnects", "reconnects", "stalls", "frames_rejected", "counter_resets", "reply_timeouts",
                   "decode_errors", "syn_dropped", "out_of_order")


class StreamSummary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stream: str
    samples: int
    rate_hz: float | None  # from the samples' own times; None under two samples
    nominal_rate: float
    channels: tuple[str, ...]
    units: tuple[str, ...]
    minimum: tuple[float, ...]  # physical units, NaN where no value
    maximum: tuple[float, ...]
    flat: tuple[str, ...] = ()
    saturated: dict[str, float] = {}  # channel -> share of samples at an ADC limit (only those > 0)
    no_value: tuple[str, ...] = ()

    def line(self) -> str:
        if self.samples == 0:
            return f"{self.stream}: no samples"
        rate = f"{self.rate_hz:.1f} Hz" if self.rate_hz is not None else "rate n/a"
        nominal = f", nominal {self.nominal_rate:g}" if self.nominal_rate > 0 else ", irregular"
        shown = [f"{c} {lo:.4g}..{hi:.4g} {u}".rstrip() for c, u, lo, hi in
                 zip(self.channels, self.units, self.minimum, self.maximum)][:_MAX_CHANNELS_SHOWN]
        more = f" (+{len(self.channels) - _MAX_CHANNELS_SHOWN} channels)" if len(self.channels) > _MAX_CHANNELS_SHOWN \
            else ""
        flags = [f"flat {','.join(self.flat)}"] if self.flat else []
        flags += [f"saturated {c} {share:.1%}" for c, share in self.saturated.items()]
        flags += [f"no value {','.join(self.no_value)}"] if self.no_value else []
        return (f"{self.stream}: {self.samples} samples, {rate}{nominal}; {'; '.join(shown)}{more}; "
                f"flags: {', '.join(flags) or 'none'}")


class DeviceCheck(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    device: str
    where: str
    identity: DeviceIdentity | None = None
    link: str = "not opened"
    streams: tuple[StreamSummary, ...] = ()
    faults: dict[str, int] = {}  # the driver's fault counters that are not 0, since open
    problems: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        if self.identity is None:
            return [f"{self.device}: {p}" for p in self.problems] or [f"{self.device}: not opened"]
        i = self.identity
        head = (f"{self.device}: {i.model}, serial {i.serial}, firmware {i.firmware}, {i.transport}"
                f"{' (simulated)' if i.simulated else ''}; link {self.link}"
                + (f"; since open: {', '.join(f'{k} {v}' for k, v in self.faults.items())}" if self.faults else ""))
        return [head, *(f"  {s.line()}" for s in self.streams), *(f"  PROBLEM: {p}" for p in self.problems)]


class RigCheck(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rig: str
    simulated: bool
    devices: tuple[DeviceCheck, ...]

    @property
    def failed(self) -> list[str]:
        return [d.device for d in self.devices if d.problems]

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self) -> list[str]:
        out = [line for d in self.devices for line in d.lines()]
        n = len(self.devices)
        if self.ok:
            out.append(f"rig check: all {n} devices of rig {self.rig!r} found and as expected"
                       f"{' (simulated rig)' if self.simulated else ''}")
        else:
            out.append(f"rig check: {len(self.failed)} of {n} devices missing, not the expected one or silent: "
                       f"{', '.join(self.failed)}")
        return out


@dataclass
class _Acc:
    """What one stream sent during the window (raw codes)."""

    spec: StreamSpec
    limits: tuple[int, int] | None
    n: int = 0
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    at_limit: np.ndarray | None = None
    t: list[float] = field(default_factory=list)

    def add(self, data: np.ndarray, t_lsl: np.ndarray, since: float) -> None:
        keep = np.asarray(t_lsl) >= since  # what a device buffered while the others were opened is not the window
        if not keep.any():
            return
        x, t_lsl = np.asarray(data, dtype=np.float64)[keep], np.asarray(t_lsl)[keep]
        nan = np.isnan(x)  # a NaN (a tool out of the field) is no value: it widens neither end
        lo, hi = np.min(np.where(nan, np.inf, x), axis=0), np.max(np.where(nan, -np.inf, x), axis=0)
        self.lo = lo if self.lo is None else np.minimum(self.lo, lo)
        self.hi = hi if self.hi is None else np.maximum(self.hi, hi)
        if self.limits is not None:
            hits = np.sum((x <= self.limits[0]) | (x >= self.limits[1]), axis=0)
            self.at_limit = hits if self.at_limit is None else self.at_limit + hits
        self.n += len(x)
        self.t += [float(t_lsl[0]), float(t_lsl[-1])]

    def summary(self) -> StreamSummary:
        s = self.spec
        base: dict[str, Any] = {"stream": s.name, "samples": self.n, "nominal_rate": s.nominal_rate,
                                "channels": s.channels, "units": s.units}
        if self.n == 0 or self.lo is None or self.hi is None:
            nan = (float("nan"),) * s.n_channels
            return StreamSummary(**base, rate_hz=None, minimum=nan, maximum=nan)
        span = max(self.t) - min(self.t)
        rate = (self.n - 1) / span if self.n > 1 and span > 0 else None
        none = ~np.isfinite(self.lo)
        a, b = s.to_physical(np.where(none, 0, self.lo)[None, :])[0], s.to_physical(np.where(none, 0, self.hi)[None, :])[0]
        lo, hi = np.where(none, np.nan, np.minimum(a, b)), np.where(none, np.nan, np.maximum(a, b))
        sat = {} if self.at_limit is None else {c: float(k) / self.n for c, k in zip(s.channels, self.at_limit) if k}
        return StreamSummary(**base, rate_hz=rate, minimum=tuple(map(float, lo)), maximum=tuple(map(float, hi)),
                             flat=tuple(c for c, u, x, y, z in zip(s.channels, s.units, self.lo, self.hi, none)
                                        if x == y and not z and u not in _STATUS_UNITS),
                             saturated=sat, no_value=tuple(c for c, z in zip(s.channels, none) if z))


@dataclass
class _Open:
    device: RigDevice
    source: AnySource
    identity: DeviceIdentity | None
    problems: list[str]
    accs: dict[str, _Acc] = field(default_factory=dict)
    disconnects: int = 0
    reconnects: int = 0
    faults: dict[str, int] = field(default_factory=dict)


def _identity_of(source: AnySource) -> DeviceIdentity | None:
    streams: Sequence[StreamSpec] = getattr(source, "streams", ())
    if streams:
        return streams[0].device
    return getattr(source, "identity", None)  # the scanner: its USB identity


def check_rig(cfg: RigConfig, *, window_s: float = 1.0, comports: Comports = list_ports.comports,
              usb_backend: Any = None, monotonic: Callable[[], float] = time.monotonic,
              clock: Callable[[], float] = local_clock) -> RigCheck:
    """Open every device of `cfg`, read them together for `window_s`, close them; what each said. `clock` is the
    samples' (LSL) clock: only samples stamped after the window opened are summarised."""
    limits = raw_limits(cfg)
    results: dict[str, DeviceCheck] = {}
    opened: list[_Open] = []
    paths: dict[str, str] = {}
    try:
        for dev in cfg.devices():
            try:
                source = build_device(cfg, dev, comports=comports, usb_backend=usb_backend, paths=paths)
                source.open()
            except (SourceError, OSError) as exc:
                why = str(exc).removeprefix(f"{dev.name}: ")  # the line already names the device
                results[dev.name] = DeviceCheck(device=dev.name, where=dev.where, problems=(f"not opened: {why}",))
                continue
            o = _Open(dev, source, _identity_of(source), [])
            opened.append(o)
            if o.identity is not None and (p := identity_problem(dev, o.identity)) is not None:
                o.problems.append(f"not the expected one: {p.removeprefix(f'{dev.name}: ')}")
            for spec in getattr(source, "streams", ()):
                o.accs[spec.name] = _Acc(spec, limits.get(spec.name))
        _read_window([o for o in opened if isinstance(o.source, Source)], window_s, monotonic, clock)
    finally:
        for o in opened:
            try:
                o.source.close()
            except Exception as exc:  # noqa: BLE001 - one device that fails to close must not hide the others
                o.problems.append(f"did not close cleanly: {exc}")
    for o in opened:
        results[o.device.name] = _device_check(o, window_s)
    return RigCheck(rig=cfg.name, simulated=cfg.simulated, devices=tuple(results[d.name] for d in cfg.devices()))


def _read_window(opened: list[_Open], window_s: float, monotonic: Callable[[], float],
                 clock: Callable[[], float]) -> None:
    since, end = clock(), monotonic() + window_s
    while opened:
        left = end - monotonic()
        if left <= 0:
            break
        for o in opened:
            src: Source = o.source  # type: ignore[assignment]
            for chunk in src.read(min(0.02, max(left, 0.001))):
                acc = o.accs.get(chunk.stream)
                if acc is not None:
                    acc.add(chunk.data, chunk.t_lsl, since)
    for o in opened:
        for ev in o.source.drain_events():
            o.disconnects += ev.name == LINK_DISCONNECTED
            o.reconnects += ev.name == LINK_RECONNECTED
        counts = o.source.counters()
        o.faults = {k: int(counts[k]) for k in _FAULT_COUNTERS if counts.get(k)}


def _device_check(o: _Open, window_s: float) -> DeviceCheck:
    summaries = tuple(a.summary() for a in o.accs.values())
    problems = list(o.problems)
    silent = [s.stream for s in summaries if s.samples == 0]
    if silent:
        problems.append(f"silent: no samples on {', '.join(silent)} in {window_s:g} s")
    if o.disconnects > o.reconnects:
        link = "down (disconnected)"
    elif not o.accs:
        link = "up (file export: no stream)"
    elif silent:
        link = "silent"
    else:
        link = "up" + (f" ({o.disconnects} reconnect(s))" if o.disconnects else "")
    return DeviceCheck(device=o.device.name, where=o.device.where, identity=o.identity, link=link,
                       streams=summaries, faults=o.faults, problems=tuple(problems))
