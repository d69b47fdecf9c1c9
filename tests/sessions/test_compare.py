"""`compare_visits` and `describe_visit`: what differs is named per stream, per scan and per step; who and when a
visit was recorded is not a difference; an altered file is refused rather than compared."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from acquisition.visitfile.reader import VisitFileDamaged
from sessions.cli import main
from sessions.compare import compare_visits, describe_visit
from tests.acquisition.visit_files import make_visit, read_only, recompute_tree, writable


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same content under two subjects."""
    root = tmp_path_factory.mktemp("cmp")
    return make_visit(root / "a", subject="ABC-001"), make_visit(root / "b", subject="ABC-002")


def _edited(src: Path, where: Path, edit, *, forge_tree: bool = False) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    dst = where / src.name
    shutil.copy2(src, dst)
    writable(dst)
    with h5py.File(dst, "r+") as f:
        edit(f)
    read_only(dst)
    if forge_tree:  # what a forger (or a changed pipeline) leaves: a file whose own digests agree with it
        recompute_tree(dst)
    return dst


def _set_event(f: h5py.File, i: int, **fields: object) -> None:
    table = f["events/table"]
    row = table[i]
    for k, v in fields.items():
        row[k] = v
    table[i] = row


def test_identity_is_not_a_difference(pair: tuple[Path, Path]) -> None:
    a, b = pair
    result = compare_visits(a, b)
    assert result.identical and result.differences == []
    lines = describe_visit(a)
    assert lines == describe_visit(b) == describe_visit(a)  # deterministic, and blind to the subject
    assert not any("ABC-00" in ln for ln in lines)
    assert "stream cop gap 0: after_seq 149 missing 5 t_before 11.49 t_after 11.55" in lines
    assert "stream emg_a samples: 3000 x 64 int32" in lines
    assert "stream emg_a t_read: none" in lines
    assert any(ln.startswith("scan rest_1 dataset faces: int64 [900, 3] sha256 ") for ln in lines)
    assert sum(ln.startswith("event t=") for ln in lines) == 5


def test_a_sample_difference_is_named_with_its_row(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = pair

    def edit(f: h5py.File) -> None:
        f["streams/emg_a/data"][1234, 5] += 1
        f["streams/cop/device_seq"][7] = 99

    b = _edited(a, tmp_path, edit)
    diffs = compare_visits(a, b).differences
    assert [d.split(":")[0] for d in diffs] == ["stream cop device_seq", "stream cop device_seq",
                                               "stream emg_a data", "stream emg_a data"]
    assert "stream emg_a data: first difference at row 1234 (A has 3000 rows, B 3000)" in diffs
    assert "stream cop device_seq: first difference at row 7 (A has 300 rows, B 300)" in diffs


def test_event_differences_are_grouped_by_step(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = pair
    b = _edited(a, tmp_path, lambda f: _set_event(f, 2, payload=json.dumps({"k": 20})), forge_tree=True)
    diffs = compare_visits(a, b).differences
    assert diffs == [
        'step rest: only in A: t=12.0 marker marker.set stream= step=rest rep= payload={"k":2}',
        'step rest: only in B: t=12.0 marker marker.set stream= step=rest rep= payload={"k":20}',
    ]


def test_wall_clock_times_are_not_compared(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = pair

    def edit(f: h5py.File) -> None:
        _set_event(f, 0, utc="2030-05-05T00:00:00Z")
        f.attrs["closed_utc"] = "2030-05-05T00:00:00Z"
        f.attrs["software_version"] = "9.9"

    assert compare_visits(a, _edited(a, tmp_path, edit, forge_tree=True)).identical


def test_scan_and_qc_differences(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = pair

    def edit(f: h5py.File) -> None:
        f["scans/rest_1"].attrs["condition"] = "max_opening"
        f["qc"].attrs["streams"] = json.dumps({"emg_a": {"received": 1}})

    diffs = compare_visits(a, _edited(a, tmp_path, edit, forge_tree=True)).differences
    assert len(diffs) == 2
    assert diffs[0].startswith('scan rest_1 attrs: A {"condition":"rest"') and '"condition":"max_opening"' in diffs[0]
    assert diffs[1] == 'qc stream emg_a: A {"received":3000} | B {"received":1}'


def test_an_altered_file_is_refused_not_compared(pair: tuple[Path, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = pair
    b = _edited(a, tmp_path, lambda f: f.attrs.modify("site", "XX"))  # its digest tree no longer agrees
    with pytest.raises(VisitFileDamaged, match="content_sha256"):
        compare_visits(a, b)
    assert main(["compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("amuse-acq: error: compare refused: ")
    assert main(["compare", str(a), str(a)]) == 0
    assert capsys.readouterr().out.startswith("identical: ")


def test_a_duplicated_outcome_row_is_named_as_such(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = pair

    def edit(f: h5py.File) -> None:
        rows = f["outcomes/table"][...]
        del f["outcomes/table"]
        f["outcomes"].create_dataset("table", data=np.concatenate([rows, rows]))

    diffs = compare_visits(a, _edited(a, tmp_path, edit, forge_tree=True)).differences
    assert diffs == ["outcomes: rest aperture 1.5 mm m-1 is 1 time(s) in A, 2 in B"]


def test_every_qc_entry_is_compared_but_the_named_exclusions(pair: tuple[Path, Path], tmp_path: Path) -> None:
    """A QC entry this comparison has never heard of is compared, not skipped; only what is about that run's
    journal (`journal_damage*`) and the reader's own counters are left out."""
    a, _ = pair

    def edit(f: h5py.File) -> None:
        f["qc"].attrs["preflight"] = json.dumps({"gates": {"plate": "passed"}})
        f["qc"].attrs["journal_damage_bytes"] = json.dumps({"meta": 12})
        f["qc"].attrs["journal_damage"] = json.dumps({"ok": False, "problems": ["x"]})

    diffs = compare_visits(a, _edited(a, tmp_path / "new", edit, forge_tree=True)).differences
    assert diffs == ['qc preflight: A (none) | B {"gates":{"plate":"passed"}}']
    assert 'qc preflight: {"gates":{"plate":"passed"}}' in describe_visit(tmp_path / "new" / a.name)
