"""Devices unplugged and misbehaving mid-step: reported in the visit file, and the recording goes on."""

from __future__ import annotations

import json
import time
from pathlib import Path

import h5py
import numpy as np

from acquisition.config import AcqSettings
from acquisition.visitfile.verify import verify_file
from sessions.manager import SessionManager
from sessions.simulated_rig import SimulatedRig
from sessions.subject import VisitIdentity


#: what corrupts each simulated device's line (fault, count), and the stream its device events are reported on
CORRUPTION = {"emg_a": ("bad_crc", 3), "emg_b": ("garbage", 2), "aurora": ("bad_crc", 2), "plate": ("garbage", 2)}
EVENT_STREAM = {"emg_a": "emg_a", "emg_b": "emg_b", "aurora": "jaw_tools", "plate": "plate_raw"}


def _counters(qc: dict, device: str) -> dict[str, int]:
    """The QC counters of one device (the BITalino source counts per board: `emg_a.crc_errors`)."""
    if device.startswith("emg_"):
        return {k.split(".", 1)[1]: v for k, v in qc["bitalino"].items() if k.startswith(device + ".")}
    return qc["aurora" if device == "aurora" else "cell_board"]


def _device_events(f: h5py.File) -> dict[str, set[str]]:
    """Standard device event names (acquisition.events.DeviceEventName) per stream that reported them."""
    out: dict[str, set[str]] = {}
    for r in f["events/table"][:]:
        if r["kind"].decode() == "device":
            out.setdefault(r["stream"].decode(), set()).add(r["name"].decode())
    return out


def test_unplug_and_corruption_mid_step_are_recorded_and_recording_goes_on(tmp_path: Path) -> None:
    settings = AcqSettings(data_dir=tmp_path / "data", create_data_dir=True, compaction_interval_s=0.5,
                           lsl_outlets=False)
    ident = VisitIdentity.checked(subject="FLT-001", visit="D0", operator="ci", site="SIM")
    with SimulatedRig(seed=3) as rig:
        session = SessionManager.open(settings, ident, simulated=True)
        for src in rig.sources():
            session.add_source(src)
        rig.set_step("emg_clench_icp", 6.0)
        session.start_step("emg_clench_icp", duration_s=6.0)
        time.sleep(1.0)
        t_fault = time.monotonic()
        # every device both corrupted and unplugged, so each is checked on its own
        for device, corruption in CORRUPTION.items():
            rig.arm_fault(device, corruption[0], corruption[1])
        time.sleep(0.8)
        for device in CORRUPTION:
            rig.arm_fault(device, "unplug")
        time.sleep(3.5)
        session.end_step()
        sealed = session.close()
    assert time.monotonic() - t_fault > 3.0
    assert verify_file(sealed.path).ok
    with h5py.File(sealed.path, "r") as f:
        ev = f["events/table"][:]
        # each unplugged device was reported and came back
        for stream in ("emg_a", "emg_b", "jaw_incisal", "plate_raw"):
            g = f["streams"][stream]
            t = g["t_lsl"][:]
            seq = g["device_seq"][:]
            assert np.all(np.diff(seq) > 0), f"{stream}: sequence numbers must only increase"
            # the recording went on after the unplug: samples in the last second of the step
            t_end = max(float(r["t_lsl"]) for r in ev if r["name"].decode() == "step.ended")
            assert (t > t_end - 1.0).sum() > 0, f"{stream}: nothing recorded after the unplug"
            assert g["gaps"].shape[0] >= 1, f"{stream}: the unplug gap is not in the gaps table"
        # each device separately, in the standard vocabulary: its unplug, its return, and the samples it cost
        by_stream = _device_events(f)
        qc = json.loads(f["qc"].attrs["sources"])
        for device, stream in EVENT_STREAM.items():
            got = by_stream.get(stream, set())
            # its unplug, its return, and the samples it cost
            assert {"link.disconnected", "link.reconnected", "samples.missing"} <= got, (device, sorted(got))
            # its corruption: a CRC failure or a resync, reported on its own stream
            assert got & {"frame.crc_failed", "stream.resynced"}, (device, sorted(got))
            counters = _counters(qc, device)
            assert (counters["disconnects"], counters["reconnects"]) == (1, 1), (device, counters)
            assert counters["crc_errors"] + counters["resyncs"] >= 1, (device, counters)
            assert counters["bytes_skipped"] >= 1, (device, counters)
        # corruption and an unplug cost a few samples and the outage, never the stream
        assert f["streams/emg_b/data"].shape[0] > 4000
