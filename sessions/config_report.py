"""What `amuse-acq config` prints: every effective setting, its value and where it came from.

A site that wonders why a visit went to the wrong disk or carries the wrong site code needs the answer in one
command: the value in force and who set it (the default, the TOML file, an `AMUSE_*` variable, an option).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, JsonValue

from acquisition.config import AcqSettings, Origin, env_name


class SettingReport(BaseModel):
    """One setting: its effective value (as JSON), its origin, and the file, variable or option behind it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: JsonValue
    source: Origin
    where: str | None = None


class ConfigReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    config_file: str | None
    settings: dict[str, SettingReport]


def config_report(settings: AcqSettings, origins: Mapping[str, Origin], *, config_file: Path | None,
                  options: Mapping[str, str]) -> ConfigReport:
    """The report of `settings`, whose origins are `origins`; `options` names the CLI option of a setting."""
    file_text = str(Path(config_file).resolve()) if config_file is not None else None
    values = settings.model_dump(mode="json")
    out: dict[str, SettingReport] = {}
    for name, value in values.items():
        source = origins[name]
        where = {"file": file_text, "env": env_name(name), "command line": options.get(name)}.get(source)
        out[name] = SettingReport(value=value, source=source, where=where)
    return ConfigReport(config_file=file_text, settings=out)
