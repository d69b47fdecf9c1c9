"""Recording an LSL stream published by another process: completeness proven by a counter channel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from acquisition.lsl.inlet import LslInletConfig, LslInletSource, record_name
from acquisition.source import Source, SourceError
from sessions.cli import main as cli_main

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _outlet(name: str, rate: float, channels: int, seconds: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen([sys.executable, str(HERE / "lsl_outlet_proc.py"), name, str(rate), str(channels),
                          str(seconds)], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


def test_record_30s_zero_loss(tmp_path: Path) -> None:
    """The issue's proof: an outlet in another process, recorded for 30 s, zero samples lost."""
    proc = _outlet("amuse_test_emg30", 2000.0, 9, 30.0)
    try:
        rc = cli_main(["record", "--lsl", "amuse_test_emg30", "--seq-channel", "0", "--subject", "LSL-001",
                       "--visit", "D0", "--operator", "ci", "--duration", "33", "--data-dir", str(tmp_path),
                       "--simulated"])
        assert rc == 0
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    sent = int(out.split()[-1])
    assert sent == 60000
    with h5py.File(tmp_path / "LSL-001_D0.h5", "r") as f:
        g = f["streams/amuse_test_emg30"]
        seq = g["device_seq"][:]
        counter = g["data"][:, 0]
        assert np.array_equal(seq, np.arange(sent)), "every sample 0..N-1 exactly once"
        assert np.array_equal(counter.astype(np.int64), seq)
        assert g.attrs["samples_missing"] == 0
        # labels and units come from the stream's desc/channels (XDF convention)
        assert json.loads(g.attrs["channels"]) == ["counter"] + [f"ch{i}" for i in range(1, 9)]
        assert json.loads(g.attrs["units"])[1] == "uV"
        names = [n.decode() if isinstance(n, bytes) else n for n in f["events/table"]["name"]]
        assert "lsl.time_correction" in names


def test_stalled_consumer_loss_is_reported() -> None:
    """LSL drops silently when the consumer stalls past the inlet buffer: the counter exposes it."""
    proc = _outlet("amuse_test_stall", 1000.0, 2, 6.0)
    src = LslInletSource(LslInletConfig(lsl_name="amuse_test_stall", seq_channel=0, max_buffer_s=1))
    try:
        assert isinstance(src, Source)
        src.open()
        got = 0
        t_end = time.monotonic() + 1.0
        while time.monotonic() < t_end:
            got += sum(c.n for c in src.read(0.1))
        time.sleep(3.0)  # stall: the 1 s buffer overflows
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end:
            got += sum(c.n for c in src.read(0.1))
        counters = src.counters()
        events = src.drain_events()
    finally:
        src.close()
        proc.kill()
    assert counters["samples_lost"] > 500
    assert any(e.name == "samples.missing" for e in events)


def test_missing_stream_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = LslInletSource(LslInletConfig(lsl_name="no_such_stream_xyz", resolve_timeout_s=0.5))
    with pytest.raises(SourceError, match="no LSL stream named 'no_such_stream_xyz'"):
        src.open()
    rc = cli_main(["record", "--lsl", "no_such_stream_xyz", "--resolve-timeout", "0.5", "--subject", "ABC-001",
                   "--visit", "D0", "--operator", "ci", "--data-dir", str(tmp_path / "d")])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such_stream_xyz" in err[0]
    assert not (tmp_path / "d").exists()


def test_record_name() -> None:
    assert record_name("EMG Amp-1") == "emg_amp_1"
    assert record_name("123") == "s_123"
