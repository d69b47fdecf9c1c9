"""Driver of the AMUSE-CB4 four-load-cell serial board (protocol: codec.py, docs/devices.md).

Streams:
- `plate_raw`: int32 raw ADC counts TR BR TL BL at the board rate; StreamSpec scale/offset = the calibration
  in force (kg = counts * kg_per_count - offset_counts * kg_per_count); `device_seq` = the board's u16 counter
  unwrapped (after an unplug the counter restarts: the driver continues the sequence after the last one plus the
  samples estimated lost during the gap, so the gap stays visible); `t_lsl` = CounterClock fit, `t_read` raw.
- `cop`: [x_ml, y_ap] mm float64, same seq/time; NaN while the load is below the step-off threshold.

Every fault becomes an Event + a counter: CRC failures, bad frames, truncated frames, skipped bytes, counter gaps
(samples lost), stalls, disconnects/reconnects; stepping off/on are 'qc' events. Every byte read is accounted for:
bytes_in = bytes_decoded + bytes_skipped (+ bytes_pending_at_close, after close); every sample decoded is stored,
or counted in frames_discarded_at_open (in flight from before the START).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from acquisition.chunk import Chunk
from acquisition.clock import CounterClock, local_clock
from acquisition.events import Event
from acquisition.source import SourceError
from acquisition.stream import DeviceIdentity, StreamSpec
from drivers.common.port_label import port_label, transport_label
from drivers.common.serial_link import SerialLink
from drivers.stabilometry.cell_board.codec import DecoderStats, FrameDecoder, ReplyFrame, SampleFrame
from drivers.stabilometry.config import CellBoardCalibration, CellBoardConfig
from drivers.stabilometry.cop import CELLS, COP_CHANNELS, cop_from_cells
from drivers.common.reporter import Reporter
from drivers.common.sequence import continue_after_outage
from drivers.stabilometry.stepoff import StepOffDetector

_COUNTERS = ("frames", "crc_errors", "malformed_frames", "bytes_skipped", "resyncs", "gaps", "samples_lost", "stalls",
             "disconnects", "reconnects", "counter_resets", "stepped_off", "stepped_on", "error_replies",
             "truncated_frames", "bytes_in", "bytes_decoded", "frames_discarded_at_open")


def parse_calibration(text: str) -> CellBoardCalibration:
    """`CAL o1,o2,o3,o4;s1,s2,s3,s4` -> calibration (ValueError with the reason otherwise)."""
    if not text.startswith("CAL "):
        raise ValueError(f"not a CAL reply: {text!r}")
    try:
        offs, scales = text[4:].split(";")
        o = tuple(int(v) for v in offs.split(","))
        s = tuple(float(v) for v in scales.split(","))
    except ValueError:
        raise ValueError(f"malformed CAL reply: {text!r}") from None
    if len(o) != 4 or len(s) != 4:
        raise ValueError(f"CAL reply needs 4 offsets and 4 scales: {text!r}")
    return CellBoardCalibration(offset_counts=o, kg_per_count=s, source="board factory calibration (CAL? reply)")  # type: ignore[arg-type]


class CellBoardSource:
    #: its payloads name ports by label (drivers/common/port_label.py) and streams by name, never a file:
    #: nothing to pseudonymise (acquisition.source.emits_pseudonymous_names)
    emits_pseudonymous_names = True

    def __init__(self, config: CellBoardConfig, *, clock: Callable[[], float] = local_clock,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._clock, self._sleep = clock, sleep
        self._rep = Reporter("cell_board", _COUNTERS, clock=clock)
        self._link = SerialLink(config.port, baudrate=config.baudrate, clock=clock, sleep=sleep)
        self._dec = FrameDecoder()
        self._dec_seen = DecoderStats()
        self._cc = CounterClock(float(config.rate_hz))
        self._stepoff = StepOffDetector(config.step_off)
        self._streams: tuple[StreamSpec, ...] = ()
        self.calibration: CellBoardCalibration | None = None
        self.identity: DeviceIdentity | None = None
        self._gen_seen = 0
        self._last_counter: int | None = None
        self._seq_base = 0  # device_seq of counter value 0 in the current run
        self._unwrapped = 0
        self._last_seq = -1
        self._last_sample_t: float | None = None
        self._last_frame_host = 0.0
        self._stalled_since: float | None = None
        self._restart_pending = False
        self._start_sent_at = 0.0
        self._early: list[SampleFrame] = []
        self._closed = False

    # -- Source contract ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return "cell_board"

    @property
    def streams(self) -> Sequence[StreamSpec]:
        return self._streams

    def open(self) -> None:
        self._link.open()
        self._gen_seen = self._link.generation
        self._command("STOP", expect="OK STOP")
        ident = self._command("ID?", expect="ID ")
        try:
            model, serial, firmware = ident[3:].split(";")
        except ValueError:
            raise SourceError(f"{self.config.port}: malformed ID reply {ident!r}") from None
        if not model.startswith("AMUSE-CB4"):
            raise SourceError(f"{self.config.port}: device is {model!r}, not an AMUSE-CB4 cell board")
        if self.config.calibration is not None:
            cal = self.config.calibration
        else:
            try:
                cal = parse_calibration(self._command("CAL?", expect="CAL "))
            except ValueError as exc:
                raise SourceError(f"{self.config.port}: {exc}") from None
        self.calibration = cal
        self._command(f"RATE {self.config.rate_hz}", expect="OK RATE")
        dev = DeviceIdentity(model=model, serial=serial, firmware=firmware, vendor="A-MUSE",
                             simulated=self.config.simulated,
                             transport=transport_label("serial", self.config.port))
        self.identity = dev
        kpc = tuple(float(s) for s in cal.kg_per_count)
        off = tuple(-o * s for o, s in zip(cal.offset_counts, kpc))
        rate = float(self.config.rate_hz)
        g = self.config.geometry
        self._streams = (
            StreamSpec(name="plate_raw", kind="plate", channels=CELLS, units=("kg",) * 4, dtype="int32",
                       nominal_rate=rate, scale=kpc, offset=off, raw_units="adc_count", device=dev,
                       scale_source=cal.source),
            StreamSpec(name="cop", kind="cop", channels=COP_CHANNELS, units=("mm", "mm"), dtype="float64",
                       nominal_rate=rate, device=dev,
                       scale_source=f"cop.py four-cell formula, {g.width_mm} x {g.depth_mm} mm"),
        )
        self._command("START", expect="OK START")
        self._last_frame_host = self._clock()
        self._rep.event("device.opened", level="info", port=port_label(self.config.port), model=model, serial=serial,
                        firmware=firmware, rate_hz=self.config.rate_hz)

    def read(self, timeout: float) -> Sequence[Chunk]:
        if self._closed:
            return []
        data = self._link.read(timeout)
        t_read = self._clock()
        chunks = self._transitions(t_read)
        frames = self._dec.feed(data) if data else []
        if self._early:
            frames = [*self._early, *frames]
            self._early = []
        self._account_decoder()
        samples = [f for f in frames if isinstance(f, SampleFrame)]
        for f in frames:
            if isinstance(f, ReplyFrame):
                self._on_reply(f.text)
        if not samples:
            self._check_stall(t_read)
            return chunks
        return chunks + self._samples(samples, t_read)

    def drain_events(self) -> Sequence[Event]:
        return self._rep.drain_events()

    def counters(self) -> Mapping[str, int]:
        return self._rep.counters()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._link.connected:
            self._link.write(b"STOP\n")
        self._link.close()
        self._account_decoder()
        self._rep.count("bytes_pending_at_close", self._dec.pending_bytes)  # cut by the close: counted, not lost

    @property
    def clock_period(self) -> float:
        """The counter clock's current estimate of the board's sample period (s)."""
        return self._cc.period

    # -- internals ------------------------------------------------------------------------------------
    def _command(self, cmd: str, *, expect: str) -> str:
        """Send one command during open and wait for its reply (samples arriving meanwhile are discarded)."""
        if not self._link.write(cmd.encode("ascii") + b"\n"):
            raise SourceError(f"{self.config.port}: cannot write {cmd!r}")
        deadline = self._clock() + self.config.reply_timeout_s
        while self._clock() < deadline:
            data = self._link.read(0.05)
            frames = self._dec.feed(data) if data else []
            n_samples = sum(isinstance(x, SampleFrame) for x in frames)
            for k, f in enumerate(frames):
                if isinstance(f, ReplyFrame):
                    if f.text.startswith(expect):
                        # samples right behind the reply (after START) belong to the record; any before it, or
                        # behind an earlier reply, were in flight from before the STOP: counted, not kept
                        self._rep.count("frames_discarded_at_open", len(self._early) + n_samples)
                        self._early = [x for x in frames[k + 1:] if isinstance(x, SampleFrame)]
                        self._rep.count("frames_discarded_at_open", -len(self._early))
                        return f.text
                    if f.text.startswith("ERR"):
                        raise SourceError(f"{self.config.port}: board refused {cmd!r}: {f.text}")
            self._rep.count("frames_discarded_at_open", n_samples)
        raise SourceError(f"{self.config.port}: no reply to {cmd!r} within {self.config.reply_timeout_s} s"
                          " (not an AMUSE-CB4 board, wrong port, or board off)")

    def _transitions(self, now: float) -> list[Chunk]:
        """Link transitions become events; a new port ends the old input (its last frames are decoded, in the old
        run, or counted) and restarts the board. Returns the chunks of those last frames."""
        chunks: list[Chunk] = []
        for what, detail in self._link.take_transitions():
            if what == "disconnected":
                self._rep.event("link.disconnected", count="disconnects", stream="plate_raw", detail=detail,
                                port=port_label(self.config.port))
            else:
                self._rep.event("link.reconnected", count="reconnects", stream="plate_raw", level="info",
                                detail=detail, port=port_label(self.config.port))
        if self._link.generation != self._gen_seen and self._link.connected:
            # a new port: the board restarted; set it up again without blocking the reader
            self._gen_seen = self._link.generation
            tail = self._dec.reset()
            self._account_decoder()
            for f in tail:
                if isinstance(f, ReplyFrame):
                    self._on_reply(f.text)
            old = [f for f in tail if isinstance(f, SampleFrame)]
            if old:
                chunks = self._samples(old, now)
            self._restart_pending = True
            self._last_frame_host = now  # silence before the restart is the disconnect, not a stall
            self._stalled_since = None
            self._send_start(now)
        return chunks

    def _send_start(self, now: float) -> None:
        self._link.write(f"STOP\nRATE {self.config.rate_hz}\nSTART\n".encode("ascii"))
        self._start_sent_at = now

    def _on_reply(self, text: str) -> None:
        if text.startswith("ERR"):
            self._rep.event("device.error_reply", count="error_replies", detail=text)

    def _check_stall(self, now: float) -> None:
        if not self._link.connected:
            return
        silent = now - self._last_frame_host
        if self._stalled_since is None and silent > self.config.stall_s:
            self._stalled_since = self._last_frame_host
            self._rep.event("stream.stalled", count="stalls", stream="plate_raw", silent_s=round(silent, 3))
        if self._restart_pending and now - self._start_sent_at > 1.0:
            self._send_start(now)  # the board did not start after a replug: ask again

    def _account_decoder(self) -> None:
        st, seen = self._dec.stats, self._dec_seen
        if st.crc_errors > seen.crc_errors:
            self._rep.event("frame.crc_failed", count="crc_errors", n=st.crc_errors - seen.crc_errors, stream="plate_raw")
        if st.bad_frames > seen.bad_frames:
            self._rep.event("frame.malformed", count="malformed_frames", n=st.bad_frames - seen.bad_frames,
                            stream="plate_raw")
        if st.truncated > seen.truncated:
            self._rep.event("frame.truncated", count="truncated_frames", n=st.truncated - seen.truncated,
                            stream="plate_raw")
        if st.bytes_skipped > seen.bytes_skipped:
            self._rep.count("bytes_skipped", st.bytes_skipped - seen.bytes_skipped)
            self._rep.event("stream.resynced", count="resyncs", stream="plate_raw", level="info",
                            bytes_skipped=st.bytes_skipped - seen.bytes_skipped)
        self._rep.count("bytes_in", st.bytes_in - seen.bytes_in)
        self._rep.count("bytes_decoded", st.bytes_decoded - seen.bytes_decoded)
        self._dec_seen = dataclasses.replace(st)

    def _samples(self, samples: list[SampleFrame], t_read: float) -> list[Chunk]:
        n = len(samples)
        self._rep.count("frames", n)
        if self._stalled_since is not None:
            self._rep.event("stream.resumed", stream="plate_raw", level="info",
                            stalled_s=round(t_read - self._stalled_since, 3))
            self._stalled_since = None
        self._last_frame_host = t_read
        seq = np.empty(n, dtype=np.int64)
        for i, f in enumerate(samples):
            c = f.counter
            if self._restart_pending or self._last_counter is None:
                self._new_run(c, t_read, n - i)
            else:
                delta = (c - self._last_counter) & 0xFFFF
                if delta == 0 or delta > 0x8000:
                    # counter repeated / went back without a replug: the board restarted
                    self._rep.event("counter.reset", count="counter_resets", stream="plate_raw",
                                    last=self._last_counter, now=c)
                    self._new_run(c, t_read, n - i)
                else:
                    if delta > 1:
                        lost = delta - 1
                        self._rep.event("samples.missing", count="gaps", stream="plate_raw", lost=lost,
                                        first_missing=self._last_seq + 1, estimated=False)
                        self._rep.count("samples_lost", lost)
                    self._unwrapped += delta
            self._last_counter = c
            seq[i] = self._seq_base + self._unwrapped
            self._last_seq = int(seq[i])
        self._cc.update(int(seq[-1]), t_read)
        t_lsl = self._cc.times(seq)
        self._last_sample_t = float(t_lsl[-1])
        raw = np.array([f.cells for f in samples], dtype=np.int32)
        cal = self.calibration
        assert cal is not None
        kg = (raw.astype(np.float64) - np.asarray(cal.offset_counts)) * np.asarray(cal.kg_per_count)
        for i, what, f in self._stepoff.update(kg.sum(axis=1)):
            self._rep.event("subject.stepped_off" if what == "off" else "subject.stepped_on", kind="qc",
                            level="info", stream="plate_raw", t_lsl=float(t_lsl[i]), count=f"stepped_{what}",
                            load_kg=round(f, 2), threshold_kg=self.config.step_off.threshold_kg)
        cop = cop_from_cells(kg, self.config.geometry, min_load=self.config.step_off.threshold_kg)
        tr = np.full(n, t_read)
        return [Chunk.build("plate_raw", raw, seq, t_lsl, tr), Chunk.build("cop", cop, seq, t_lsl, tr)]

    def _new_run(self, counter: int, t_read: float, n_in_batch: int) -> None:
        """First sample, or first after a restart: place the new run after the last seq plus the estimated gap."""
        first = self._last_counter is None and self._last_seq < 0
        est_lost = 0
        if first:
            self._seq_base = 0
        else:
            # the batch's last sample was read at t_read: its first was emitted (n_in_batch - 1) periods before
            rate = float(self.config.rate_hz)
            last_t = self._last_sample_t if self._last_sample_t is not None else t_read
            cont = continue_after_outage(self._last_seq, last_t, t_read - (n_in_batch - 1) / rate, rate)
            est_lost = cont.lost
            self._seq_base = cont.first_seq - counter
        self._unwrapped = counter
        self._cc.reset()
        if not first:
            self._rep.event("samples.missing", count="gaps", stream="plate_raw", lost=est_lost, estimated=True,
                            first_missing=self._last_seq + 1, reason="restart")
            self._rep.count("samples_lost", est_lost)
        self._restart_pending = False
