"""Runtime configuration (pydantic-settings): defaults, then a TOML file, then `AMUSE_*` environment variables."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SUBJECT_PATTERN = r"^[A-Z]{3}-[0-9]{3}$"


class AcqSettings(BaseSettings):
    """Everything a site may change. Printed into every visit file (root attribute `config`)."""

    model_config = SettingsConfigDict(env_prefix="AMUSE_", extra="forbid", frozen=True)

    data_dir: Path = Field(default=Path("data"), description="where sealed visit files and the manifest live")
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

    @classmethod
    def load(cls, path: Path | None = None, **overrides: Any) -> "AcqSettings":
        """Defaults <- TOML file (if given) <- environment <- explicit overrides."""
        values: dict[str, Any] = {}
        if path is not None:
            try:
                values.update(tomllib.loads(Path(path).read_text()))
            except FileNotFoundError:
                raise ValueError(f"configuration file {path} does not exist") from None
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"configuration file {path} is not valid TOML: {exc}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
