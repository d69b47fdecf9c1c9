"""Recording an LSL stream published by another process: completeness proven by a counter channel."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from acquisition.events import DEVICE_EVENT_NAMES
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
    assert counters["samples_lost"] > 500 and counters["frames"] == got
    missing = [e for e in events if e.name == "samples.missing"]
    assert missing and counters["samples_lost"] == sum(e.payload["lost"] for e in missing)
    assert counters["gaps"] == len([e for e in events if e.name in ("samples.missing", "samples.reordered")])
    # the drivers' vocabulary: every device event a standard name
    assert {e.name for e in events if e.kind == "device"} <= DEVICE_EVENT_NAMES
    assert [e.name for e in events if e.kind == "device"][0] == "stream.opened"


def test_missing_stream_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = LslInletSource(LslInletConfig(lsl_name="no_such_stream_xyz", resolve_timeout_s=0.5))
    with pytest.raises(SourceError, match="no LSL stream named 'no_such_stream_xyz'"):
        src.open()
    data = tmp_path / "d"
    data.mkdir()
    rc = cli_main(["record", "--lsl", "no_such_stream_xyz", "--resolve-timeout", "0.5", "--subject", "ABC-001",
                   "--visit", "D0", "--operator", "ci", "--data-dir", str(data)])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such_stream_xyz" in err[0]
    assert not (data / ".open" / "ABC-001_D0").exists() and not list(data.glob("*.h5"))  # never claimed


def test_record_name() -> None:
    assert record_name("EMG Amp-1") == "emg_amp_1"
    assert record_name("123") == "s_123"


def _record(tmp_path: Path, name: str, duration: float, subject: str) -> int:
    return cli_main(["record", "--lsl", name, "--seq-channel", "0", "--subject", subject, "--visit", "D0",
                     "--operator", "ci", "--duration", str(duration), "--data-dir", str(tmp_path), "--simulated"])


def test_dead_tail_is_reported_live_and_in_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The outlet stops 3 s before the close: a live stall warning, and the QC counts the dead tail missing."""
    rate = 500.0
    proc = _outlet("amuse_test_tail", rate, 2, 2.0)
    try:
        rc = _record(tmp_path, "amuse_test_tail", 5.0, "LSL-002")
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert rc == 0
    sent = int(out.split()[-1])
    cap = capsys.readouterr()
    warn = [ln for ln in cap.err.splitlines() if ln.startswith("WARNING") and "amuse_test_tail" in ln]
    assert any("no sample for" in ln and "stalled" in ln for ln in warn), cap.err
    with h5py.File(tmp_path / "LSL-002_D0.h5", "r") as f:
        q = json.loads(f["qc"].attrs["streams"])["amuse_test_tail"]
        table = f["events/table"][:]
    names = [r["name"].decode() for r in table]
    assert q["received"] == sent and q["missing_by_seq"] == 0  # every sample sent is there...
    # the dead tail is one stall never followed by a resume (a loaded machine may add a stall+resume pair)
    mine = [n for n in names if n in ("stream.stalled", "stream.resumed")]
    assert mine and mine[-1] == "stream.stalled" and q["stalls"] == names.count("stream.stalled")
    assert names.count("stream.stalled") == names.count("stream.resumed") + 1
    assert 2.5 * rate <= q["missing_by_window"] <= 3.5 * rate  # ...and the 3 s of silence are missing
    line = next(ln for ln in cap.out.splitlines() if ln.strip().startswith("amuse_test_tail:"))
    assert f"received {sent}, missing 0, gaps 0" in line
    assert f"missing {q['missing_by_window']} of {q['expected_by_window']} over the" in line
    assert f"stalled {q['stalls']}x" in line and "WARNING" in line


def test_no_hostname_in_a_file_recorded_from_lsl(tmp_path: Path) -> None:
    """The sender's hostname is not a data manager's business: not in any attribute, event or dataset."""
    host = socket.gethostname()
    needle = re.compile(rf"(?<![A-Za-z0-9]){re.escape(host)}(?![A-Za-z0-9])")
    proc = _outlet("amuse_test_host", 200.0, 2, 3.0)
    try:
        assert _record(tmp_path, "amuse_test_host", 1.5, "LSL-003") == 0
    finally:
        proc.kill()
    hits: list[str] = []

    def check(where: str, value: object) -> None:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, np.ndarray):
            for v in value.ravel().tolist():
                check(where, v)
            return
        if isinstance(value, (tuple, list)):
            for v in value:
                check(where, v)
            return
        if needle.search(str(value)):
            hits.append(f"{where}: {str(value)[:120]}")

    def visit(name: str, obj: object) -> None:
        assert isinstance(obj, (h5py.Group, h5py.Dataset))
        for k, v in obj.attrs.items():
            check(f"{name} attr {k}", v)
        if isinstance(obj, h5py.Dataset) and (obj.dtype.kind in "SOU" or obj.dtype.names):
            check(name, obj[()])

    with h5py.File(tmp_path / "LSL-003_D0.h5", "r") as f:
        for k, v in f.attrs.items():
            check(f"/ attr {k}", v)
        f.visititems(visit)
        assert f["streams/amuse_test_host"].attrs["n_samples"] > 0
    assert hits == [], hits


def test_sequence_faults_use_the_standard_names_and_payload() -> None:
    """A hole is `samples.missing` with payload `lost`; a counter that goes back is `samples.reordered`, a gap but
    no loss; both standard device names (no `lsl_inlet.*`, no `missing` key)."""
    src = LslInletSource(LslInletConfig(lsl_name="unit", seq_channel=0))
    data = lambda seq: np.asarray(seq, dtype=np.float32)[:, None]  # noqa: E731
    src._sequence(data([0, 1, 2]), np.array([0.0, 0.001, 0.002]))
    src._sequence(data([5, 6, 4]), np.array([0.005, 0.006, 0.007]))
    ev = src.drain_events()
    assert [(e.name, e.payload["lost"]) for e in ev] == [("samples.missing", 2), ("samples.reordered", -3)]
    assert all(e.kind == "device" and e.name in DEVICE_EVENT_NAMES and "missing" not in e.payload for e in ev)
    c = src.counters()
    assert (c["gaps"], c["samples_lost"]) == (2, 2)
