"""Runtime configuration (pydantic-settings): defaults, then a TOML file, then `AMUSE_*` environment variables,
then explicit overrides (the command line).

The environment beats the file so that one run can change one value (`AMUSE_DATA_DIR=/mnt/usb amuse-acq ...`)
without editing the site's file; the command line beats both.
"""

from __future__ import annotations

import re
import tomllib
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from acquisition.calibration_config import CalibrationSettings
from acquisition.preflight_config import PreflightSettings
from acquisition.visit_window_config import VisitWindowSettings

DEFAULT_SUBJECT_PATTERN = r"^[A-Z]{3}-[0-9]{3}$"
#: a site code goes into every file's attributes and is printed by `inspect`: plain capitals and digits only
DEFAULT_SITE_PATTERN = r"^[A-Z0-9]{2,16}$"

#: where an effective setting came from, highest rank first: an explicit override (the command line's options),
#: an `AMUSE_*` environment variable, the TOML file, the field's default
Origin = Literal["command line", "env", "file", "default"]


@dataclass
class _Load:
    """One `AcqSettings.load`: the TOML file's source, and the sources pydantic-settings then ranked and used."""

    toml: TomlConfigSettingsSource | None
    used: tuple[tuple[Origin, PydanticBaseSettingsSource], ...] = ()


# the load in progress, handed to `settings_customise_sources` (a ContextVar, not a class attribute, so that two
# threads loading two files never see each other's values)
_LOAD: ContextVar[_Load | None] = ContextVar("amuse_settings_load", default=None)


def check_site_code(value: object, pattern: str = DEFAULT_SITE_PATTERN) -> str:
    """Return the site code if it fully matches `pattern` on printable ASCII, else raise ValueError saying why.

    A site code goes into every file and onto the technician's terminal (`inspect`): `fullmatch` + `re.ASCII` +
    `isascii`/`isprintable` refuse a trailing newline, escape codes, path pieces and look-alike letters.
    """
    if not isinstance(value, str) or not value.isascii() or not value.isprintable() \
            or re.fullmatch(pattern, value, flags=re.ASCII) is None:
        raise ValueError(f"site code {value!r} does not match the required pattern {pattern}")
    return value


def _compiles(pattern: str, what: str) -> str:
    try:
        re.compile(pattern, flags=re.ASCII)
    except re.error as exc:
        raise ValueError(f"{what} {pattern!r} is not a valid regular expression: {exc}") from None
    return pattern


class AcqSettings(BaseSettings):
    """Everything a site may change. Printed into every visit file (root attribute `config`)."""

    model_config = SettingsConfigDict(env_prefix="AMUSE_", extra="forbid", frozen=True)

    data_dir: Path = Field(default=Path("data"), description="where sealed visit files and the manifest live")
    create_data_dir: bool = Field(
        default=False,
        description="create a missing data_dir; off by default: an unmounted data disk must not silently put "
        "visits on the system disk",
    )
    # declared before `site`, so the site validator sees the site's own pattern
    site_pattern: str = Field(default=DEFAULT_SITE_PATTERN, description="regex a site code must match")
    site: str = Field(default="SIM", min_length=1, max_length=32, description="site code written into every file")
    subject_pattern: str = Field(default=DEFAULT_SUBJECT_PATTERN, description="regex a subject pseudonym must match")
    subject_max_len: int = Field(default=32, ge=1, le=128)
    production: bool = Field(default=False, description="production mode refuses simulated sources")
    fsync_interval_s: float = Field(default=1.0, gt=0, le=1.0, description="journal durability bound")
    compaction_interval_s: float = Field(default=2.0, gt=0, description="journal -> HDF5 background cadence")
    compression: Literal["gzip", "lzf", "none"] = "gzip"
    compression_level: int = Field(default=1, ge=0, le=9)
    hdf5_cache_mb: int = Field(default=64, ge=4)
    lsl_outlets: bool = Field(default=True, description="publish every local stream as an LSL outlet")
    reader_timeout_s: float = Field(default=0.1, gt=0, le=1.0)
    # the delivery watch (sessions.stream_watch): a stream that stops delivering, or loses samples, is said live
    stall_after_s: float = Field(default=1.0, gt=0, description="a stream silent this long is stalled...")
    stall_after_intervals: float = Field(
        default=10.0, gt=0, description="...or silent this many sample intervals, if that is longer (slow streams)")
    gap_rate_warn: float = Field(default=0.01, gt=0, lt=1,
                                 description="fraction of a stream's samples missing that is a warning")
    gap_rate_window_s: float = Field(default=10.0, gt=0, description="sliding window of that gap rate")
    gap_rate_min_samples: int = Field(default=100, ge=1,
                                      description="expected samples in the window before the gap rate is judged")
    calibration: CalibrationSettings = Field(default_factory=CalibrationSettings,
                                             description="durations, tolerances and validity of each calibration")
    preflight: PreflightSettings = Field(default_factory=PreflightSettings,
                                         description="thresholds of the pre-flight gates (docs/preflight.md)")
    visit_windows: VisitWindowSettings = Field(default_factory=VisitWindowSettings,
                                               description="when W4, W12, W24 are due after D0, and the calendar")

    @field_validator("site_pattern", "subject_pattern")
    @classmethod
    def _valid_regex(cls, v: str, info: ValidationInfo) -> str:
        return _compiles(v, str(info.field_name))

    @field_validator("site")
    @classmethod
    def _site_code(cls, v: str, info: ValidationInfo) -> str:
        return check_site_code(v, info.data.get("site_pattern", DEFAULT_SITE_PATTERN))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """First wins: explicit overrides, then `AMUSE_*` environment, then the TOML file, then the defaults.

        No `.env` file and no secrets directory are read (the site's file is the TOML one), so those two sources
        are left out and every value has one of the four origins `load_explained` reports.
        """
        load = _LOAD.get()
        ranked: tuple[tuple[Origin, PydanticBaseSettingsSource], ...] = (("command line", init_settings),
                                                                         ("env", env_settings))
        if load is not None and load.toml is not None:
            ranked += (("file", load.toml),)
        if load is not None:
            load.used = ranked
        return tuple(source for _, source in ranked)

    @classmethod
    def load(cls, path: Path | None = None, **overrides: Any) -> "AcqSettings":
        """Defaults <- TOML file (if given) <- `AMUSE_*` environment <- explicit overrides (None = not given)."""
        return cls.load_explained(path, **overrides)[0]

    @classmethod
    def load_explained(cls, path: Path | None = None, **overrides: Any) -> tuple["AcqSettings", dict[str, Origin]]:
        """`load`, and for every field where its value came from (`amuse-acq config` prints both).

        The origin is read from the very source objects pydantic-settings ranked for this build (their values
        are read once, when they are made), not by parsing the file or the environment a second time: the
        highest-ranked source that provides a field is where its value came from; none is `default`.
        """
        load = _Load(toml=_toml_source(cls, path))
        token = _LOAD.set(load)
        try:
            settings = cls(**{k: v for k, v in overrides.items() if v is not None})
        finally:
            _LOAD.reset(token)
        provided = [(origin, source()) for origin, source in load.used]
        origins: dict[str, Origin] = {
            name: next((origin for origin, values in provided if name in values), "default")
            for name in cls.model_fields
        }
        return settings, origins


def env_name(field: str) -> str:
    """The environment variable that sets `field` (`site` -> `AMUSE_SITE`)."""
    prefix = str(AcqSettings.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def _toml_source(settings_cls: type[BaseSettings], path: Path | None) -> TomlConfigSettingsSource | None:
    """pydantic-settings' TOML source for `path`, read now; a missing or unreadable file is one clear ValueError.

    The source itself skips a missing file silently: a typo in `--config` must not fall back to the defaults.
    """
    if path is None:
        return None
    path = Path(path)
    if not path.exists():
        raise ValueError(f"configuration file {path} does not exist")
    if not path.is_file():
        raise ValueError(f"configuration file {path} is not a regular file")
    try:
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"configuration file {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"configuration file {path} is not valid TOML: {exc}") from None
