"""AcqSettings: the site code is checked wherever it comes from; AMUSE_* beats the TOML file (issues 7.6, 8.6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from acquisition.config import AcqSettings

BAD_SITES = ["../x\n\x1b[31mRED", "SIM\n", "sim", "S", "LYON/1", "L Y", "\u0410B", "A" * 17, ""]


def test_default_site_passes() -> None:
    assert AcqSettings().site == "SIM"


@pytest.mark.parametrize("site", BAD_SITES)
def test_bad_site_refused_from_every_source(site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as err:
        AcqSettings(site=site)
    assert err.value.errors()[0]["loc"] == ("site",)
    toml = tmp_path / "site.toml"
    toml.write_text(f"site = {json.dumps(site)}\n")  # a JSON string is a valid TOML basic string
    with pytest.raises(ValidationError) as err:
        AcqSettings.load(toml)
    assert err.value.errors()[0]["loc"] == ("site",)
    monkeypatch.setenv("AMUSE_SITE", site)
    with pytest.raises(ValidationError) as err:
        AcqSettings.load()
    assert err.value.errors()[0]["loc"] == ("site",)


def test_site_pattern_configurable() -> None:
    assert AcqSettings(site_pattern=r"^[A-Z]{2}-[0-9]{2}$", site="FR-01").site == "FR-01"
    with pytest.raises(ValidationError):
        AcqSettings(site_pattern=r"^[A-Z]{2}-[0-9]{2}$", site="SIM")
    with pytest.raises(ValidationError) as err:
        AcqSettings(site_pattern="[unclosed")
    assert err.value.errors()[0]["loc"] == ("site_pattern",)


def test_environment_beats_toml_and_options_beat_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "site.toml"
    toml.write_text('site = "LYO"\ncompression_level = 3\ndata_dir = "/from/toml"\n')
    assert AcqSettings.load(toml).site == "LYO"
    monkeypatch.setenv("AMUSE_SITE", "ENV1")
    monkeypatch.setenv("AMUSE_DATA_DIR", str(tmp_path / "env"))
    s = AcqSettings.load(toml)
    assert (s.site, s.data_dir, s.compression_level) == ("ENV1", tmp_path / "env", 3)
    assert AcqSettings.load(toml, site="CLI", data_dir=None).site == "CLI"
    # the file's values do not leak into a settings object built afterwards
    monkeypatch.delenv("AMUSE_SITE")
    assert AcqSettings().compression_level == 1 and AcqSettings().site == "SIM"


def test_unknown_toml_key_refused(tmp_path: Path) -> None:
    toml = tmp_path / "site.toml"
    toml.write_text("sitte = 'LYO'\n")
    with pytest.raises(ValidationError) as err:
        AcqSettings.load(toml)
    assert err.value.errors()[0]["loc"] == ("sitte",)


def test_config_errors_are_one_line_in_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sessions.cli import main as cli_main

    toml = tmp_path / "site.toml"
    toml.write_text("compression_level = 42\n")
    assert cli_main(["--config", str(toml), "demo", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "compression_level" in err[0], err
    toml.write_text("not toml [")
    assert cli_main(["--config", str(toml), "demo", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not valid TOML" in err[0], err
