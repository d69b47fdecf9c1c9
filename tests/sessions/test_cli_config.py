"""`amuse-acq config`: the effective settings as JSON, each with where it came from (issue 8.6)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from acquisition.config import AcqSettings
from sessions.cli import main as cli_main


@pytest.fixture(autouse=True)
def _no_amuse_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("AMUSE_"):
            monkeypatch.delenv(name)


def _config(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert cli_main(list(argv)) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    return json.loads(out)


def test_defaults_everywhere_without_file_env_or_options(capsys: pytest.CaptureFixture[str]) -> None:
    report = _config(capsys, "config")
    assert report["config_file"] is None
    settings = report["settings"]
    assert set(settings) == set(AcqSettings.model_fields)
    assert {k: v["value"] for k, v in settings.items()} == AcqSettings().model_dump(mode="json")
    assert {v["source"] for v in settings.values()} == {"default"}
    assert all(v["where"] is None for v in settings.values())


def test_each_origin_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "site.toml"
    toml.write_text('site = "LYO"\ncompression_level = 3\ndata_dir = "/from/toml"\nproduction = true\n')
    monkeypatch.setenv("AMUSE_SITE", "ENV1")
    monkeypatch.setenv("AMUSE_HDF5_CACHE_MB", "128")
    monkeypatch.setenv("AMUSE_DATA_DIR", "/from/env")
    s = _config(capsys, "--config", str(toml), "config", "--data-dir", str(tmp_path / "cli"))["settings"]
    assert s["compression_level"] == {"value": 3, "source": "file", "where": str(toml.resolve())}
    assert s["production"] == {"value": True, "source": "file", "where": str(toml.resolve())}
    # the environment beats the file...
    assert s["site"] == {"value": "ENV1", "source": "env", "where": "AMUSE_SITE"}
    assert s["hdf5_cache_mb"] == {"value": 128, "source": "env", "where": "AMUSE_HDF5_CACHE_MB"}
    # ...and the command line beats both
    assert s["data_dir"] == {"value": str(tmp_path / "cli"), "source": "command line", "where": "--data-dir"}
    assert s["compression"] == {"value": "gzip", "source": "default", "where": None}
    assert sum(v["source"] == "default" for v in s.values()) == len(AcqSettings.model_fields) - 5


def test_config_option_after_the_command_and_site_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = tmp_path / "site.toml"
    toml.write_text('site = "LYO"\ncreate_data_dir = false\n')
    report = _config(capsys, "config", "--config", str(toml), "--site", "CLI", "--create-data-dir")
    assert report["config_file"] == str(toml.resolve())
    s = report["settings"]
    assert s["site"] == {"value": "CLI", "source": "command line", "where": "--site"}
    assert s["create_data_dir"] == {"value": True, "source": "command line", "where": "--create-data-dir"}


def test_a_value_equal_to_its_default_still_names_its_origin(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The origin is who set the value, not whether it differs from the default."""
    toml = tmp_path / "site.toml"
    toml.write_text('compression = "gzip"\n')
    monkeypatch.setenv("AMUSE_SITE", "SIM")
    s = _config(capsys, "config", "--config", str(toml))["settings"]
    assert s["compression"]["source"] == "file" and s["site"]["source"] == "env"


def test_load_explained_agrees_with_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "site.toml"
    toml.write_text('site = "LYO"\nreader_timeout_s = 0.5\n')
    monkeypatch.setenv("AMUSE_SITE", "ENV1")
    settings, origins = AcqSettings.load_explained(toml, data_dir=tmp_path, site=None)
    assert settings == AcqSettings.load(toml, data_dir=tmp_path)
    assert (settings.site, settings.reader_timeout_s, settings.data_dir) == ("ENV1", 0.5, tmp_path)
    assert origins == {**{k: "default" for k in AcqSettings.model_fields}, "site": "env",
                       "reader_timeout_s": "file", "data_dir": "command line"}


@pytest.mark.parametrize("content, expected", [("compression_level = 42\n", "compression_level"),
                                               ("not toml [", "not valid TOML"),
                                               ("sitte = 'LYO'\n", "sitte")])
def test_bad_file_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                                     expected: str) -> None:
    toml = tmp_path / "site.toml"
    toml.write_text(content)
    assert cli_main(["config", "--config", str(toml)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert captured.out == "" and len(err) == 1 and expected in err[0], err


def test_missing_file_and_directory_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["config", "--config", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0], err
    assert cli_main(["config", "--config", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a regular file" in err[0], err


def test_bad_environment_value_is_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMUSE_COMPRESSION", "zstd")
    assert cli_main(["config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "compression" in err[0], err
