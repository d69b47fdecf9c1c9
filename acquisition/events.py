"""Events on the visit timeline: protocol steps, markers, device faults, operator actions."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

EventKind = Literal[
    "visit_open",
    "visit_close",
    "step_start",
    "step_end",
    "marker",
    "device",  # device-side happenings: connect, disconnect, reconnect, crc_error, gap, resync, stall ...
    "operator",  # operator actions: override, comment, abort
    "scan",
    "qc",
    "clock",  # clock offsets (LSL time_correction), (monotonic, UTC) pairs
]


# Names read back by the QC (recording windows, stalls): one spelling, shared by the writer and the reader.
SOURCE_STARTED = "source.started"  # payload "streams": the streams of the source, recorded from this event on
SOURCE_STOPPED = "source.stopped"  # ... up to this one
VISIT_CLOSED = "visit.closed"
VISIT_RECOVERED = "visit.recovered"
STREAM_STALLED = "stream.stalled"  # a stream silent past its threshold (payload "detected_by": "session")
STREAM_RESUMED = "stream.resumed"
STREAM_GAP_RATE_HIGH = "stream.gap_rate_high"  # too many samples missing over a sliding window
CALIBRATION_RECORDED = "calibration.recorded"  # a calibration taken during the visit; payload "batch", "ids"


# -- the drivers' vocabulary ------------------------------------------------------------------------------------
# One name per happening, whatever the device (docs/devices.md, "Event and counter vocabulary"). A driver reports
# through the shared `acquisition.reporter.Reporter` (re-exported as `drivers.common.reporter.Reporter`), which
# refuses a device event outside this list and a counter neither in `CounterName` nor declared by the source.
DeviceEventName = Literal[
    "device.opened",  # the device answered and identified itself (payload: model, serial, firmware, port)
    "device.identified",  # one board of a multi-board source identified itself (BITalino)
    "device.closed",
    "device.error_reply",  # the device refused a command (payload: code, message)
    "device.reinitialised",  # the driver re-ran the device's set-up after a reconnect or a stall
    "device.reinit_failed",
    "device.identity_unchecked",  # no identity check configured (a scanner exporting files without USB)
    "device.tools_changed",  # the tools behind the handles are not the configured ones any more (Aurora)
    "link.disconnected",  # the port went away (unplug, cable, adapter); counter `disconnects`
    "link.reconnected",  # the port is back; counter `reconnects`
    "samples.missing",  # samples the device never delivered (counter jump, or estimated across a reconnect);
    #                     payload "lost" (count), "estimated" (True when derived from time); counters `gaps`, `samples_lost`
    "samples.reordered",  # a vendor stream's sample counter went back or repeated (payload "lost" < 0 /
    #                       0: how far back); counted in `gaps`, never in `samples_lost`
    "frame.unread_at_close",  # frames polled after the last read() before close(): counted, not recorded
    "frame.crc_failed",  # a frame / reply whose checksum did not match; counter `crc_errors`
    "frame.malformed",  # a frame / reply with a good framing but an impossible layout; counter `malformed_frames`
    "frame.truncated",  # a frame cut short; counter `truncated_frames`
    "frame.rejected",  # a frame that passed its CRC but does not fit the sequence; counter `frames_rejected`
    "frame.dropped_after_gap",  # a frame discarded next to a gap (its neighbours disagree)
    "frame.went_back",  # a frame number lower than the last one (not stored)
    "frame.overflow",  # bytes with no frame end within the reader's limit
    "stream.resynced",  # the decoder found the frame boundary again after skipping bytes; counter `resyncs`
    "stream.stalled",  # the device went silent while it should stream (driver-side; the session's own stall
    #                    events carry payload detected_by="session"); counter `stalls`
    "stream.resumed",
    "stream.opened",  # an LSL stream was resolved and opened (vendor apps)
    "events.dropped",  # the kernel dropped input events (evdev SYN_DROPPED); counter `syn_dropped`
    "event.bad_value",  # an input event with an impossible value
    "timestamps.not_increasing",  # a vendor stream's time stamps went back; counter `out_of_order`
    "counter.reset",  # the device's sample counter restarted without a reconnect; counter `counter_resets`
    "reply.timeout",  # no reply to a poll within its timeout; counter `reply_timeouts`
    "reply.decode_failed",  # a reply with a good CRC that could not be decoded; counter `decode_errors`
    "board.restarted",  # the driver restarted acquisition on a board (after a reconnect or a stall)
    "reader.failed",  # a driver's reader thread caught an unexpected error (it goes on)
    "reader.stop_timeout",  # a driver's reader thread did not end when asked; its port is left open (never
    #                         closed under a live reader); counter `stop_timeouts`
    "poller.error",  # the Aurora polling process caught an unexpected error (it goes on)
    "poller.killed",  # the Aurora polling process did not stop in time
    "clock.mapped",  # the device's time stamps were mapped onto the LSL clock (payload mode)
    "icp.set",
    "icp.unset",
    "subject.stepped_off",
    "subject.stepped_on",
]
DEVICE_EVENT_NAMES: frozenset[str] = frozenset(get_args(DeviceEventName))

LINK_DISCONNECTED: DeviceEventName = "link.disconnected"
LINK_RECONNECTED: DeviceEventName = "link.reconnected"
SAMPLES_MISSING: DeviceEventName = "samples.missing"
STREAM_RESYNCED: DeviceEventName = "stream.resynced"
FRAME_CRC_FAILED: DeviceEventName = "frame.crc_failed"

#: Counter keys every driver uses with the same meaning (a driver may add its own beside them).
CounterName = Literal[
    "frames",  # frames / samples / reports decoded and handed on
    "gaps",  # `samples.missing` events
    "samples_lost",  # samples in those gaps
    "crc_errors",
    "malformed_frames",
    "truncated_frames",
    "resyncs",
    "bytes_in",
    "bytes_skipped",  # bytes discarded by the decoder while looking for a frame boundary
    "bytes_decoded",  # bytes of good frames / replies
    "bytes_pending_at_close",  # bytes cut by the close (a partial frame): counted, not lost in silence
    "disconnects",
    "reconnects",
    "stalls",
    "frames_rejected",
    "counter_resets",
    "reply_timeouts",
    "decode_errors",
    "syn_dropped",
    "out_of_order",
    "stop_timeouts",  # reader threads that did not end when asked (`reader.stop_timeout`)
]
STANDARD_COUNTERS: tuple[str, ...] = get_args(CounterName)


class Event(BaseModel):
    """One timestamped happening. `t_lsl` is on the LSL clock; `utc` is ISO-8601 with `Z`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    t_lsl: float
    utc: str
    kind: EventKind
    name: str = Field(min_length=1, max_length=120, description="noun.verb style, e.g. 'frame.crc_failed'")
    stream: str = ""
    step: str = ""
    payload: dict[str, Any] = Field(default_factory=dict)
