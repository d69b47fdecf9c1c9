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


def _names(f: h5py.File) -> list[str]:
    return [r["name"].decode() for r in f["events/table"][:]]


def test_unplug_and_corruption_mid_step_are_recorded_and_recording_goes_on(tmp_path: Path) -> None:
    settings = AcqSettings(data_dir=tmp_path / "data", compaction_interval_s=0.5, lsl_outlets=False)
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
        names = _names(f)
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
        disconnect_like = [n for n in names if "disconnect" in n or "unplug" in n or "lost" in n]
        reconnect_like = [n for n in names if "reconnect" in n or "reopened" in n or "resumed" in n]
        assert disconnect_like and reconnect_like, names
        # three corrupted frames in a row: the decoder reports CRC failures or a resync, either way counted
        assert "frame.crc_failed" in names or "stream.resync" in names
        qc = json.loads(f["qc"].attrs["sources"])
        assert qc["bitalino"]["crc_errors"] + qc["bitalino"]["resyncs"] >= 1
        assert qc["cell_board"]["reconnects"] >= 1 and qc["cell_board"]["bytes_skipped"] + qc["cell_board"]["bad_frames"] >= 1
        # corruption costs at most a few samples per fault, never the stream
        assert f["streams/emg_b/data"].shape[0] > 4000
