"""`amuse-acq inspect`: one clear line and a non-zero exit on a damaged file, damage it does not read is still
found, and nothing from the file reaches the terminal unescaped."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

from sessions.cli import main
from tests.acquisition.visit_files import copy_dir, flip_chunk_byte, make_visit, read_only, writable

A = "ABC-001_D0.h5"


@pytest.fixture(scope="module")
def sealed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sealed") / "data"
    make_visit(d, "ABC-001")
    return d


@pytest.fixture()
def file(sealed_dir: Path, tmp_path: Path) -> Path:
    return copy_dir(sealed_dir, tmp_path / "data") / A


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    code = main(["inspect", *argv])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.out + cap.err
    return code, cap.out.splitlines(), cap.err.splitlines()


def test_a_sound_file_is_summarised_and_verified(file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(file))
    assert code == 0 and err == []
    assert out[0] == f"visit file {A}  schema v2  state sealed  simulated=True"
    assert out[-1].startswith("  verify: OK (12 stream block digests and the digest tree of 26 objects and 54 "
                              "attributes recomputed and matched; content root ")


def test_a_damaged_data_chunk_is_noticed(file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the summary reads no sample of `data`: only the verification can see this
    flip_chunk_byte(file, "streams/emg_a/data", 1)
    code, out, err = run(capsys, str(file))
    assert code == 1
    assert "  verify: FAILED: 1 problem(s)" in out
    assert out[-1].startswith(f"    FAILED  {A}: /streams/emg_a/data block 1 (rows 1024-2047): ")
    assert err == [f"amuse-acq: error: {A} is damaged or altered: see the FAILED lines above"]


def test_a_damaged_t_lsl_is_one_line_in_the_summary_and_fails(file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flip_chunk_byte(file, "streams/emg_a/t_lsl", 0)
    code, out, err = run(capsys, str(file))
    assert code == 1
    assert ("    emg_a: cannot be read (OSError: Can't synchronously read data (filter returned failure during "
            "read))") in out
    assert any(ln.startswith("    cop ") for ln in out)  # the other stream is still summarised
    assert err == [f"amuse-acq: error: {A} is damaged or altered: see the FAILED lines above"]


@pytest.mark.parametrize("damage", ["truncated", "superblock"])
def test_an_unreadable_file_is_one_error_line(file: Path, capsys: pytest.CaptureFixture[str], damage: str) -> None:
    raw = file.read_bytes()
    writable(file)
    file.write_bytes(raw[:20000] if damage == "truncated" else b"\0" * 8 + raw[8:])
    read_only(file)
    code, out, err = run(capsys, str(file))
    assert code == 1 and out == []
    assert len(err) == 1
    assert err[0].startswith(f"amuse-acq: error: {A}: not a readable HDF5 file (OSError: Unable to synchronously "
                             "open file (")


def test_strings_from_the_file_are_escaped(file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = "../x\n\x1b[31mRED\u202e"
    writable(file)
    with h5py.File(file, "r+") as f:
        f.attrs["site"] = hostile
        f.move("streams/cop", "streams/c\x1b[2Jop")
        f["scans/rest_1"].attrs["condition"] = "rest\r\x07"
    read_only(file)
    code, out, err = run(capsys, str(file))
    assert code == 1  # the content changed after sealing
    text = "\n".join(out + err)
    assert "\x1b" not in text and "\r" not in text and "\x07" not in text and "\u202e" not in text
    assert "  subject ABC-001  visit D0  site ../x\\n\\x1b[31mRED\\u202e  operator tech1" in out
    assert any(ln.startswith("    c\\x1b[2Jop ") for ln in out)
    assert f"    FAILED  {A}: /streams/c\\x1b[2Jop: not in the recorded digest tree (added after the file was " \
           "written)" in out


def test_journal_damage_found_when_the_file_was_built_is_shown(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = make_visit(tmp_path / "data", journal_damage={"meta": 0, "streams/emg_a": 120, "events": 33})
    code, out, _ = run(capsys, str(path))
    assert code == 0
    assert ("  journal damage found when the file was built (bytes of damaged records skipped, never accepted): "
            "events 33, streams/emg_a 120") in out
