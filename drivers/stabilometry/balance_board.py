"""Wii Balance Board source (Linux hid-wiimote evdev device, or a FIFO of the same event records).

Streams:
- `plate_raw`: one row per SYN_REPORT, irregular (nominal_rate 0), int32 codes of 10 g, cells TR BR TL BL;
  `t_lsl` = kernel event stamp mapped to the LSL clock (see timemap.py), `t_read` = host read time,
  `device_seq` = report count of this source (the board has no sample counter on evdev).
- `plate`: SWARII-resampled cells in kg (float32), uniform at `resample.rate_hz`, `device_seq` = grid index k
  (t = k / rate on the LSL clock): a missing k is a gap (no data in the window), never an invented value.
- `cop`: [x_ml, y_ap] mm (float64) computed from `plate` (cop.py); NaN while the total load is below the
  step-off threshold.

evdev only reports axes that changed, and drops a report where nothing changed. Silence on a device that is
still present therefore means "unchanged": after `hold_after_s` without a report the driver feeds the held
state to the resampler (never to `plate_raw`), so a still subject or an empty board keeps the grid going.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from acquisition.chunk import Chunk
from acquisition.clock import local_clock
from acquisition.events import Event
from acquisition.source import SourceError
from acquisition.stream import DeviceIdentity, StreamSpec
from drivers.common.port_label import port_label, transport_label
from drivers.stabilometry.config import BalanceBoardConfig
from drivers.stabilometry.cop import CELLS, COP_CHANNELS, cop_from_cells
from drivers.stabilometry.evdev_reader import DeviceGone, EvdevReader, ReportAssembler, find_balance_board
from drivers.common.reporter import Reporter
from drivers.stabilometry.resample import SwariiResampler
from drivers.stabilometry.stepoff import StepOffDetector
from drivers.stabilometry.timemap import KernelTimeMap

KG_PER_CODE = 0.01
_COUNTERS = ("frames", "malformed_frames", "bytes_skipped", "syn_dropped", "bad_values", "disconnects",
             "reconnects", "out_of_order", "empty_windows", "held_pushes", "stepped_off", "stepped_on", "stalls")


class BalanceBoardSource:
    """`Source` for the Wii Balance Board. Keyword-only options; injectable clock and sleep."""

    #: its payloads name ports by label (drivers/common/port_label.py) and streams by name, never a file:
    #: nothing to pseudonymise (acquisition.source.emits_pseudonymous_names)
    emits_pseudonymous_names = True

    def __init__(self, config: BalanceBoardConfig | None = None, *, clock: Callable[[], float] = local_clock,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config or BalanceBoardConfig()
        self._clock = clock
        self._sleep = sleep
        self._rep = Reporter("balance_board", _COUNTERS, clock=clock)
        self._reader: EvdevReader | None = None
        self._path = ""
        self._streams: tuple[StreamSpec, ...] = ()
        self._asm = ReportAssembler()
        self._tmap = KernelTimeMap()
        rs = self.config.resample
        self._resampler = SwariiResampler(rate_hz=rs.rate_hz, window_s=rs.window_s, n_channels=4)
        self._stepoff = StepOffDetector(self.config.step_off)
        self._seq = 0
        self._connected = False
        self._gone_since: float | None = None
        self._next_retry = 0.0
        self._last_real_host = -np.inf
        self._last_push_t = -np.inf
        self._parser_seen = (0, 0)
        self._closed = False
        self._was_evdev = False
        self._silent_reported = False

    # -- Source contract ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return "balance_board"

    @property
    def streams(self) -> Sequence[StreamSpec]:
        return self._streams

    def open(self) -> None:
        cfg = self.config
        path = cfg.device
        if path == "auto":
            found = find_balance_board(name=cfg.name, vendor=cfg.vendor, product=cfg.product)
            if found is None:
                raise SourceError(
                    f"no Wii Balance Board among input devices (name {cfg.name!r}, {cfg.vendor:04x}:{cfg.product:04x});"
                    " is it paired and hid-wiimote loaded?")
            path = found
        if not os.path.exists(path):
            raise SourceError(f"balance board event source {path!r} does not exist")
        self._path = path
        reader = EvdevReader(path)
        try:
            reader.open()
        except OSError as exc:
            raise SourceError(f"balance board event source {path!r} cannot be opened: {exc}") from None
        ident = reader.identity()
        if reader.kind == "evdev" and cfg.device != "auto" and ident["name"] != cfg.name:
            reader.close()
            raise SourceError(f"{path!r} is {ident['name']!r}, not a balance board ({cfg.name!r})")
        self._reader = reader
        self._was_evdev = reader.kind == "evdev"
        self._connected = True
        self._asm.reset(reader.initial_state)
        serial = cfg.serial or ident["uniq"] or ident["phys"] or port_label(path)
        transport = transport_label("evdev" if reader.kind == "evdev" else "evdev-records", path)
        device = DeviceIdentity(model="Nintendo Wii Balance Board (RVL-WBC-01)", serial=serial,
                                firmware="hid-wiimote", vendor="Nintendo", simulated=cfg.simulated, transport=transport)
        rate = cfg.resample.rate_hz
        scale_src = "hid-wiimote (wiimod_bboard_in_ext): ABS_HAT* in 10 g units, 1700 = 17 kg calibration point"
        self._streams = (
            StreamSpec(name="plate_raw", kind="plate", channels=CELLS, units=("kg",) * 4, dtype="int32",
                       nominal_rate=0.0, scale=(KG_PER_CODE,) * 4, raw_units="10g", device=device,
                       scale_source=scale_src),
            StreamSpec(name="plate", kind="plate", channels=CELLS, units=("kg",) * 4, dtype="float32",
                       nominal_rate=rate, device=device,
                       scale_source=f"SWARII resampling of plate_raw, window {cfg.resample.window_s} s"),
            StreamSpec(name="cop", kind="cop", channels=COP_CHANNELS, units=("mm", "mm"), dtype="float64",
                       nominal_rate=rate, device=device,
                       scale_source=f"cop.py four-cell formula, {cfg.geometry.width_mm} x {cfg.geometry.depth_mm} mm"),
        )
        self._last_real_host = self._clock()
        self._rep.event("device.opened", level="info", kind="device", path=port_label(path), reader=reader.kind,
                        clock_monotonic=reader.clock_monotonic, device_name=ident["name"], phys=ident["phys"],
                        uniq=ident["uniq"], vidpid=ident["vidpid"])

    def read(self, timeout: float) -> Sequence[Chunk]:
        if self._closed:
            return []
        if self._reader is None:
            self._try_reopen(timeout)
            return []
        reader = self._reader
        try:
            if not self._connected:  # record stream waiting for its writer to come back
                self._sleep(min(timeout, 0.05))
                if reader.replaced():  # the writer made a new FIFO at the same path: open that one
                    reader.close()
                    try:
                        reader.open()
                    except OSError:
                        return []
                res = reader.read(0.0, clock=self._clock)
            else:
                res = reader.read(timeout, clock=self._clock)
        except DeviceGone as exc:
            self._lost(str(exc))
            return []
        if not self._connected:
            if not res.events and reader.parser.pending == 0:
                return []
            self._back()
        self._account_parser(reader)
        rep = self._asm.feed(res.events)
        if rep.dropped:
            self._rep.event("events.dropped", count="syn_dropped", n=rep.dropped, stream="plate_raw",
                            detail="SYN_DROPPED: kernel buffer overflow, state re-read")
            self._asm.set_state(reader.reread_state(), only_unknown=True)
        if rep.bad_values:
            self._rep.event("event.bad_value", count="bad_values", n=rep.bad_values, stream="plate_raw")
        out: list[Chunk] = []
        n = len(rep.t_kernel)
        now = res.t_host
        if n:
            chosen = self._tmap.observe(rep.t_kernel, now)
            if chosen:
                self._rep.event("clock.mapped", kind="clock", level="info", mode=chosen,
                                latency_s=now - float(rep.t_kernel[-1]), offset_s=self._tmap.offset)
            t_lsl = self._tmap.to_lsl(rep.t_kernel)
            seq = np.arange(self._seq, self._seq + n, dtype=np.int64)
            self._seq += n
            self._rep.count("frames", n)
            out.append(Chunk.build("plate_raw", rep.cells, seq, t_lsl, np.full(n, now)))
            kg = rep.cells.astype(np.float64) * KG_PER_CODE
            self._step_events(kg, t_lsl)
            self._push(t_lsl, kg)
            self._last_real_host = now
        elif self._asm.complete and now - self._last_real_host > self.config.hold_after_s:
            t_syn = now - 0.25 * self.config.hold_after_s
            if t_syn > self._last_push_t:
                # the held value, at grid spacing from the last sample on, so no SWARII window is left empty
                dt = 1.0 / self.config.resample.rate_hz
                start = self._last_push_t + dt if np.isfinite(self._last_push_t) else t_syn
                ts = np.arange(start, t_syn + 0.5 * dt, dt)
                if len(ts):
                    held = np.repeat(self._asm.state[None, :].astype(np.float64) * KG_PER_CODE, len(ts), axis=0)
                    self._push(ts, held)
                    self._rep.count("held_pushes")
        elif not self._asm.complete and not self._silent_reported and now - self._last_real_host > 2.0:
            # nothing at all since (re)connection: a board that never reports is worth saying, once
            self._silent_reported = True
            self._rep.event("stream.stalled", count="stalls", stream="plate_raw", path=port_label(self._path),
                            detail="no complete report for 2 s")
        if n:
            self._silent_reported = False
        out.extend(self._pull())
        return out

    def drain_events(self) -> Sequence[Event]:
        return self._rep.drain_events()

    def counters(self) -> Mapping[str, int]:
        c = self._rep.counters()
        c["out_of_order"] = self._resampler.out_of_order
        c["empty_windows"] = self._resampler.empty_windows
        return c

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._closed = True

    # -- internals ----------------------------------------------------------------------------------
    def _push(self, t: np.ndarray, kg: np.ndarray) -> None:
        self._resampler.push(t, kg)
        self._last_push_t = max(self._last_push_t, float(t[-1]))

    def _pull(self) -> list[Chunk]:
        k, t, kg = self._resampler.pull()
        if len(k) == 0:
            return []
        cop = cop_from_cells(kg, self.config.geometry, min_load=self.config.step_off.threshold_kg)
        return [Chunk.build("plate", kg.astype(np.float32), k, t), Chunk.build("cop", cop, k, t)]

    def _step_events(self, kg: np.ndarray, t_lsl: np.ndarray) -> None:
        load = kg.sum(axis=1)
        for i, what, f in self._stepoff.update(load):
            name = "subject.stepped_off" if what == "off" else "subject.stepped_on"
            self._rep.event(name, kind="qc", level="info", stream="plate_raw", t_lsl=float(t_lsl[i]),
                            count=f"stepped_{what}", load_kg=round(f, 2),
                            threshold_kg=self.config.step_off.threshold_kg)

    def _account_parser(self, reader: EvdevReader) -> None:
        p = reader.parser
        bad0, skipped0 = self._parser_seen
        if p.bad_records > bad0:
            self._rep.event("frame.malformed", count="malformed_frames", n=p.bad_records - bad0, stream="plate_raw",
                            bytes_skipped=p.bytes_skipped - skipped0)
            self._rep.count("bytes_skipped", p.bytes_skipped - skipped0)
        self._parser_seen = (p.bad_records, p.bytes_skipped)

    def _lost(self, why: str) -> None:
        if self._connected:
            self._connected = False
            self._gone_since = self._clock()
            self._rep.event("link.disconnected", count="disconnects", stream="plate_raw", detail=why,
                            path=port_label(self._path))
        reader = self._reader
        if reader is not None and reader.kind == "records":
            reader.parser.reset()  # a cut record from before the loss must not glue onto the next writer's data
            self._parser_seen = (reader.parser.bad_records, reader.parser.bytes_skipped)
        if reader is not None and reader.kind != "records":
            reader.close()
            self._reader = None
            self._next_retry = self._clock() + self.config.reconnect_s

    def _back(self) -> None:
        now = self._clock()
        gone = now - (self._gone_since or now)
        self._connected = True
        # the time away is a gap: never fill it with held values
        self._last_push_t = max(self._last_push_t, now)
        self._last_real_host = now
        reader = self._reader
        if reader is not None:
            self._asm.reset(reader.initial_state)
        self._rep.event("link.reconnected", count="reconnects", stream="plate_raw", level="info",
                        gap_s=round(gone, 3), path=port_label(self._path))

    def _try_reopen(self, timeout: float) -> None:
        now = self._clock()
        if now < self._next_retry:
            self._sleep(min(timeout, self._next_retry - now))
            return
        self._next_retry = now + self.config.reconnect_s
        cfg = self.config
        path = self._path
        if cfg.device == "auto" or (self._was_evdev and not os.path.exists(path)):
            # a board that reconnects over Bluetooth usually comes back as another /dev/input/eventN
            path = find_balance_board(name=cfg.name, vendor=cfg.vendor, product=cfg.product) or ""
        if not path or not os.path.exists(path):
            self._sleep(min(timeout, cfg.reconnect_s))
            return
        reader = EvdevReader(path)
        try:
            reader.open()
        except OSError:
            return
        self._path = path
        self._reader = reader
        self._back()


def is_event_device(path: str) -> bool:
    """True for a character device (a real /dev/input/eventN), False for a FIFO / socket / file."""
    return stat.S_ISCHR(os.stat(path).st_mode)
