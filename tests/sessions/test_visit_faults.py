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
        rig.arm_fault("emg_a", "unplug")
        rig.arm_fault("aurora", "unplug")
        rig.arm_fault("plate", "unplug")
        rig.arm_fault("emg_b", "bad_crc", 3)
        rig.arm_fault("plate", "garbage", 2)
        time.sleep(4.0)
        session.end_step()
        sealed = session.close()
    assert time.monotonic() - t_fault > 3.0
    assert verify_file(sealed.path).ok
    with h5py.File(sealed.path, "r") as f:
        ev = f["events/table"][:]
        # each unplugged device was reported and came back
        for stream in ("emg_a", "jaw_incisal", "plate_raw"):
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
        for stream in ("emg_a", "jaw_tools", "plate_raw"):
            got = by_stream.get(stream, set())
            assert {"link.disconnected", "link.reconnected", "samples.missing"} <= got, (stream, sorted(got))
        # the devices that were not unplugged were not reported as unplugged
        assert "link.disconnected" not in by_stream.get("emg_b", set())
        # three corrupted frames in a row on emg_b: CRC failures or a resync, on emg_b, counted on emg_b
        assert by_stream["emg_b"] & {"frame.crc_failed", "stream.resynced"}, sorted(by_stream["emg_b"])
        # garbage on the plate's line: a resync on the plate, counted
        assert "stream.resynced" in by_stream["plate_raw"], sorted(by_stream["plate_raw"])
        qc = json.loads(f["qc"].attrs["sources"])
        assert qc["bitalino"]["emg_b.crc_errors"] + qc["bitalino"]["emg_b.resyncs"] >= 1
        assert qc["bitalino"]["emg_a.disconnects"] == 1 and qc["bitalino"]["emg_b.disconnects"] == 0
        assert qc["aurora"]["disconnects"] == 1 and qc["aurora"]["reconnects"] == 1
        assert qc["cell_board"]["disconnects"] == 1 and qc["cell_board"]["reconnects"] == 1
        assert qc["cell_board"]["resyncs"] >= 1 and qc["cell_board"]["bytes_skipped"] >= 1
        # corruption costs at most a few samples per fault, never the stream
        assert f["streams/emg_b/data"].shape[0] > 4000
