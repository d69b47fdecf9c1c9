"""The golden visits of tests/data/golden/ (README there), on every CI run: each verifies, describes itself as its
committed summary says, replays into an identical visit, and shows its fault again in the replay.

A change of what is recorded (data, device_seq, times, gaps, events, scans) fails here until the goldens are
regenerated (`make goldens`) and the change is reviewed as changed golden files and summaries.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from acquisition.visitfile.reader import VisitFile
from acquisition.visitfile.verify import verify_file
from tests.goldens.definitions import GOLDEN_DIR, GOLDENS, MAX_TOTAL_BYTES, Golden, golden_settings
from tests.goldens.privacy_scan import identifying_text
from tests.goldens.summary_diff import summary_changes

INDEX = GOLDEN_DIR / "goldens.json"
#: what of a recording machine must never reach a committed golden (the generator also checks host and user)
HOST_WORDS = ["/tmp/", "/work/", "/home/", "/root/", "amuse-rigs", "amuse-golden", str(Path(__file__).parents[2])]
REGENERATE = "regenerate with `make goldens` if the change is intended (tests/data/golden/README.md)"

EACH = pytest.mark.parametrize("golden", GOLDENS, ids=[g.name for g in GOLDENS])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_golden_is_committed_indexed_and_within_budget() -> None:
    index = json.loads(INDEX.read_text())
    assert sorted(index) == sorted(g.name for g in GOLDENS), f"goldens.json is stale: {REGENERATE}"
    on_disk = sorted(p.relative_to(GOLDEN_DIR).as_posix() for p in GOLDEN_DIR.rglob("*.h5"))
    assert on_disk == sorted(f"{g.name}/{g.key}.h5" for g in GOLDENS), "a golden file without a definition"
    for g in GOLDENS:
        assert index[g.name]["sha256"] == _sha256(g.path), f"{g.name}: file changed behind goldens.json"
        assert g.summary_path.is_file(), f"{g.name}: no {g.summary_path.name}"
    assert len({g.subject for g in GOLDENS}) == len(GOLDENS), "each golden has a pseudonym of its own"
    total = sum(g.path.stat().st_size for g in GOLDENS)
    assert total <= MAX_TOTAL_BYTES, f"goldens hold {total} bytes, over the {MAX_TOTAL_BYTES}-byte budget"


@EACH
def test_golden_verifies_and_shows_its_fault(golden: Golden) -> None:
    rep = verify_file(golden.path)
    assert rep.ok, rep.problems
    assert rep.streams and all(s.ok and s.n_samples > 0 for s in rep.streams), rep.streams
    assert golden.problems(golden.path) == []


def test_claims_are_not_vacuous() -> None:
    """Each golden's claims fail on every other golden: they say something its own fault alone makes true."""
    for g in GOLDENS:
        with VisitFile.open(g.path) as vf:
            for other in GOLDENS:
                if other is not g:
                    assert any(c.check(vf) is not None for c in other.claims), (other.name, "holds on", g.name)


def test_summary_changes_tell_structure_from_values() -> None:
    old = ["stream emg_a samples: 3273 x 4 uint16", "stream emg_a gaps: 1, 821 samples missing",
           "event t=1.5 device link.disconnected stream=emg_a step=s rep=1 payload={\"last_seq\":1268}"]
    values_only = ["stream emg_a samples: 3301 x 4 uint16", "stream emg_a gaps: 1, 790 samples missing",
                   "event t=1.7 device link.disconnected stream=emg_a step=s rep=1 payload={\"last_seq\":1301}"]
    assert summary_changes(old, values_only) == ["structure unchanged; 3 of 3 lines changed value (digests, times, "
                                                 "counts)"]
    lost_event = values_only[:2] + ["event t=1.9 device link.reconnected stream=emg_a step=s rep=1 payload={}"]
    assert summary_changes(old, lost_event)[1:] == ["- event device link.disconnected stream=emg_a step=s rep=1",
                                                    "+ event device link.reconnected stream=emg_a step=s rep=1"]


@EACH
def test_golden_holds_nothing_of_the_recording_host(golden: Golden) -> None:
    assert identifying_text(golden.path, HOST_WORDS) == []
    summary = golden.summary_path.read_text()
    assert [w for w in HOST_WORDS if w in summary] == []


@EACH
def test_golden_describes_itself_as_committed(golden: Golden) -> None:
    from sessions.compare import describe_visit

    committed = golden.summary_path.read_text().splitlines()
    assert describe_visit(golden.path) == committed, f"{golden.summary_path.name} differs: {REGENERATE}"


@EACH
def test_golden_replays_identically(golden: Golden, tmp_path: Path) -> None:
    from sessions.compare import compare_visits
    from sessions.replay import replay_into

    replayed = replay_into(golden.path, golden_settings(tmp_path / "data"))
    assert replayed.parent == tmp_path / "data" and replayed.name == golden.path.name
    result = compare_visits(golden.path, replayed)
    assert result.identical, f"{golden.name}: the replay differs ({REGENERATE}):\n" + "\n".join(result.differences)
    # the fault the golden stands for made it through the replay (not only "equal": both could have lost it)
    assert golden.problems(replayed) == []
    assert verify_file(replayed).ok
