"""Publish a recorded stream as an LSL outlet so LabRecorder or any LSL viewer can watch the visit live.

Metadata follow the XDF `desc/channels` convention (label, unit, type per channel) and `source_id` is the device
serial, so a viewer that reconnects finds the same stream again. Values pushed are physical units (float32) with
the sample times the recorder stamped: the outlet is a live view, the journal is the record.
"""

from __future__ import annotations

import numpy as np

from acquisition.chunk import Chunk
from acquisition.lslenv import pylsl
from acquisition.stream import StreamSpec

_LSL_TYPE = {
    "emg": "EMG",
    "jaw": "Mocap",
    "jaw_pose": "Mocap",
    "plate": "Force",
    "cop": "Force",
    "markers": "Markers",
    "other": "Misc",
}


def stream_info(spec: StreamSpec, *, chunk_size: int = 0, name_prefix: str = "amuse_", name_suffix: str = "",
                channel_format: int = pylsl.cf_float32, source_id: str | None = None) -> "pylsl.StreamInfo":
    """Build the StreamInfo of `spec` with XDF channel metadata and the device identity.

    The live view uses the defaults (float32 physical values, source_id = serial); the LSL replay of a sealed
    visit (acquisition/replay/lsl_player.py) republishes raw codes in an integer format under a name and
    source_id of its own (`-replay`), so it can never be taken for the live device."""
    info = pylsl.StreamInfo(
        name=name_prefix + spec.name + name_suffix,
        type=_LSL_TYPE.get(spec.kind, "Misc"),
        channel_count=spec.n_channels,
        nominal_srate=spec.nominal_rate if spec.nominal_rate > 0 else pylsl.IRREGULAR_RATE,
        channel_format=channel_format,
        source_id=spec.device.serial if source_id is None else source_id,
    )
    desc = info.desc()
    chans = desc.append_child("channels")
    for label, unit in zip(spec.channels, spec.units, strict=True):
        ch = chans.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", unit)
        ch.append_child_value("type", spec.kind)
    acq = desc.append_child("acquisition")
    acq.append_child_value("manufacturer", spec.device.vendor)
    acq.append_child_value("model", spec.device.model)
    acq.append_child_value("serial_number", spec.device.serial)
    acq.append_child_value("firmware", spec.device.firmware)
    acq.append_child_value("simulated", "true" if spec.device.simulated else "false")
    return info


class StreamOutletView:
    """One LSL outlet per local stream; `push(chunk)` publishes physical values with the recorded LSL times."""

    def __init__(self, spec: StreamSpec, *, chunk_size: int = 0, max_buffered_s: int = 60) -> None:
        self.spec = spec
        self._outlet = pylsl.StreamOutlet(stream_info(spec), chunk_size, max_buffered_s)

    def push(self, chunk: Chunk) -> None:
        if chunk.n == 0:
            return
        values = self.spec.to_physical(chunk.data).astype(np.float32, copy=False)
        self._outlet.push_chunk(np.ascontiguousarray(values), chunk.t_lsl.tolist())

    def have_consumers(self) -> bool:
        return bool(self._outlet.have_consumers())

    def close(self) -> None:
        # dropping the last reference destroys the outlet
        self._outlet = None  # type: ignore[assignment]
