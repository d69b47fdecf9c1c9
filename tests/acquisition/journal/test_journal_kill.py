"""A writer process is SIGKILLed mid-stream: everything its append() returned for must be readable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from acquisition.journal import Journal, list_segments, scan_log

from tests.acquisition.journal.journal_helpers import payload_for

REPO = Path(__file__).resolve().parents[3]

CHILD = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {repo!r})
    from pathlib import Path
    from acquisition.journal import Journal
    from tests.acquisition.journal.journal_helpers import payload_for
    j = Journal(Path({root!r}), segment_bytes=16384, fsync_interval_s=0.05)
    w = j.log("streams/emg")
    i = 0
    while True:
        w.append(payload_for(i))
        os.write(1, b"%d\\n" % i)   # acknowledged only after append() returned
        i += 1
    """
)


def test_sigkill_loses_nothing_that_append_returned_for(tmp_path: Path) -> None:
    root = tmp_path / "j"
    env = dict(os.environ, AMUSE_LOG_LEVEL="ERROR")
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(repo=str(REPO), root=str(root))],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    acked = -1
    try:
        for line in proc.stdout:
            acked = int(line)
            if acked >= 3000:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()  # acks written before the kill
        proc.stdout.close()
        proc.wait(timeout=10)
    for line in rest.split():
        acked = max(acked, int(line))
    assert proc.returncode == -signal.SIGKILL
    assert acked >= 3000

    log_dir = root / "streams" / "emg"
    scan = scan_log(log_dir, final=True)
    assert scan.damaged_regions == 0
    seqs = [int.from_bytes(r[:8], "little") for r in scan.records]
    assert seqs == list(range(len(seqs)))  # in order, no gap, no duplicate
    assert len(seqs) >= acked + 1  # every acknowledged append is there (at most one more, un-acked)
    assert len(seqs) <= acked + 2
    assert all(r == payload_for(i) for i, r in enumerate(scan.records))
    n_before = len(list_segments(log_dir))
    assert n_before > 1  # rollover happened before the kill

    # restart after the crash: the journal opens again (the dead process's flock is gone) and writes a new segment
    with Journal(root) as j:
        w = j.log("streams/emg")
        assert w.segment_path.name == f"seg-{n_before:06d}.amj"
        w.append(payload_for(len(seqs)))
    again = scan_log(log_dir, final=True)
    assert again.records == [payload_for(i) for i in range(len(seqs) + 1)]
