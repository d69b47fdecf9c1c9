"""Every recorded local stream is published live on LSL with XDF channel metadata and source_id = serial."""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import numpy as np

from acquisition.config import AcqSettings
from acquisition.lslenv import pylsl
from sessions.manager import SessionManager
from sessions.subject import VisitIdentity
from tests.sessions.helpers import ramp_source


def test_session_publishes_outlets_with_metadata(tmp_path: Path) -> None:
    settings = AcqSettings(data_dir=tmp_path, compaction_interval_s=0.2, lsl_outlets=True)
    ident = VisitIdentity.checked(subject="OUT-001", visit="D0", operator="ci", site="SIM")
    s = SessionManager.open(settings, ident, simulated=True)
    try:
        s.add_source(ramp_source("liveview", 3, 500.0))
        found = pylsl.resolve_byprop("name", "amuse_liveview", 1, 5.0)
        assert found, "outlet not visible on LSL"
        inlet = pylsl.StreamInlet(found[0], as_numpy=True)
        inlet.open_stream(timeout=5.0)
        info = inlet.info(timeout=5.0)
        assert info.source_id() == "R-liveview"
        ch = info.desc().child("channels").child("channel")
        labels = []
        while not ch.empty():
            labels.append((ch.child_value("label"), ch.child_value("unit")))
            ch = ch.next_sibling()
        assert labels == [("c0", "u"), ("c1", "u"), ("c2", "u")]
        assert info.desc().child("acquisition").child_value("simulated") == "true"
        got, stamps = [], []
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            d, ts = inlet.pull_chunk(timeout=0.2)
            if len(ts):
                got.append(np.asarray(d))
                stamps.append(np.asarray(ts))
    finally:
        sealed = s.close()
    live = np.concatenate(got)
    live_t = np.concatenate(stamps)
    assert len(live) > 300
    with h5py.File(sealed.path, "r") as f:
        t = f["streams/liveview/t_lsl"][:]
        data = f["streams/liveview/data"][:]
    # the live samples are the recorded ones, with the recorded times
    idx = np.searchsorted(t, live_t)
    assert np.allclose(t[idx], live_t, atol=1e-6)
    assert np.array_equal(data[idx].astype(np.float32), live)
