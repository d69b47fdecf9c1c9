"""EMG from a vendor's LSL app: a clinical amplifier that publishes LSL can stand in for the BITalino boards.

Wraps the generic inlet source (acquisition.lsl.inlet.LslInletSource: resolve with timeout and a clear error,
raw LSL timestamps kept as t_lsl, time_correction() every few seconds as `clock` events, sequence numbers and
gap detection) and adds what EMG needs: a mapping {LSL channel label -> EMG label (muscle + side)} checked
against the stream's desc/channels (XDF convention), and unit checks. Samples are stored as received; a stream
in mV or V gets scale 1e3 / 1e6 to microvolts recorded in the stream's `scale` attribute. Units that are not a
voltage (or are missing, unless `assume_unit` is set) are refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from acquisition.chunk import Chunk
from acquisition.events import Event
from acquisition.lsl.inlet import LslInletConfig, LslInletSource, channel_meta
from acquisition.source import SourceError
from acquisition.stream import StreamSpec
from drivers.emg.labels import EMG_LABELS, EMG_UNIT

#: accepted unit spellings -> factor to microvolts
UNIT_FACTORS: dict[str, float] = {
    "uv": 1.0, "µv": 1.0, "μv": 1.0, "microvolt": 1.0, "microvolts": 1.0,
    "mv": 1e3, "millivolt": 1e3, "millivolts": 1e3,
    "v": 1e6, "volt": 1e6, "volts": 1e6,
}


class LslEmgConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lsl_name: str = Field(min_length=1)
    record_as: str = Field(default="emg", pattern=r"^[a-z][a-z0-9_]{0,47}$")
    channel_map: dict[str, str] = Field(description="LSL channel label -> EMG label (TA_R, MM_L, ...)")
    expected_channels: int | None = Field(default=None, ge=1, description="refuse a stream with another count")
    assume_unit: str | None = Field(default=None, description="unit to use when the stream declares none")
    resolve_timeout_s: float = Field(default=5.0, gt=0)
    time_correction_every_s: float = Field(default=5.0, gt=0)
    simulated: bool = False

    @field_validator("channel_map")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("channel_map is empty")
        bad = [lab for lab in v.values() if lab not in EMG_LABELS]
        if bad:
            raise ValueError(f"EMG labels {bad} are not in {EMG_LABELS}")
        if len(set(v.values())) != len(v):
            raise ValueError(f"two LSL channels map to the same EMG label: {v}")
        return v


def unit_factor(unit: str) -> float | None:
    return UNIT_FACTORS.get(unit.strip().lower().replace(" ", ""))


class LslEmgSource:
    """Source: one LSL EMG stream, recorded as stream `record_as` with EMG labels and a µV scale."""

    #: its payloads name ports by label (drivers/common/port_label.py) and streams by name, never a file:
    #: nothing to pseudonymise (acquisition.source.emits_pseudonymous_names)
    emits_pseudonymous_names = True

    def __init__(self, config: LslEmgConfig) -> None:
        self.config = config
        self._inner = LslInletSource(
            LslInletConfig(
                lsl_name=config.lsl_name,
                record_as=config.record_as,
                resolve_timeout_s=config.resolve_timeout_s,
                time_correction_every_s=config.time_correction_every_s,
                simulated=config.simulated,
            )
        )
        self._spec: StreamSpec | None = None
        self._cols: np.ndarray | None = None

    @property
    def name(self) -> str:
        return "lsl-emg:" + self.config.lsl_name

    @property
    def streams(self) -> Sequence[StreamSpec]:
        return [self._spec] if self._spec is not None else []

    def open(self) -> None:
        self._inner.open()
        try:
            raw = self._inner.streams[0]
            labels, units = self._full_channel_meta()
            if labels is not None:
                raw = raw.model_copy(update={"channels": tuple(labels), "units": tuple(units)})
            self._spec, self._cols = self._check(raw)
        except SourceError:
            self._inner.close()
            raise

    def _full_channel_meta(self) -> tuple[list[str] | None, list[str]]:
        """Labels/units from the inlet's full StreamInfo: a resolved StreamInfo carries no desc() (liblsl sends
        the description only to an opened inlet), so the generic inlet's labels may be the ch1.. defaults."""
        info = self._inner.full_info()
        if info is None:
            return None, []
        labels, units = channel_meta(info)
        return labels, units

    def _check(self, raw: StreamSpec) -> tuple[StreamSpec, np.ndarray]:
        cfg = self.config
        where = f"LSL stream {cfg.lsl_name!r}"
        if cfg.expected_channels is not None and raw.n_channels != cfg.expected_channels:
            raise SourceError(f"{where}: expected {cfg.expected_channels} channels, found {raw.n_channels}")
        missing = [lab for lab in cfg.channel_map if lab not in raw.channels]
        if missing:
            raise SourceError(f"{where}: channels {missing} not found; the stream has {list(raw.channels)}")
        cols, labels, scales = [], [], []
        for lsl_label, emg_label in cfg.channel_map.items():
            i = raw.channels.index(lsl_label)
            unit = raw.units[i] or (cfg.assume_unit or "")
            factor = unit_factor(unit) if unit else None
            if factor is None:
                raise SourceError(
                    f"{where}: channel {lsl_label!r} has unit {unit!r}; expected microvolts (uV/µV/microvolts) "
                    f"or mV/V (set assume_unit if the stream declares none)"
                )
            cols.append(i)
            labels.append(emg_label)
            scales.append(factor)
        spec = StreamSpec(
            name=cfg.record_as,
            kind="emg",
            channels=tuple(labels),
            units=(EMG_UNIT,) * len(labels),
            dtype=raw.dtype,
            nominal_rate=raw.nominal_rate,
            scale=tuple(scales),
            offset=(0.0,) * len(labels),
            raw_units="as published on LSL: " + ",".join(raw.units[c] or "?" for c in cols),
            device=raw.device,
            scale_source="unit declared in the LSL stream's desc/channels (XDF convention)",
        )
        return spec, np.asarray(cols, dtype=np.int64)

    def read(self, timeout: float) -> Sequence[Chunk]:
        if self._spec is None or self._cols is None:
            raise SourceError(f"{self.name}: read() before open()")
        out = []
        for c in self._inner.read(timeout):
            out.append(Chunk.build(self._spec.name, c.data[:, self._cols], c.device_seq, c.t_lsl, c.t_read))
        return out

    def drain_events(self) -> Sequence[Event]:
        return [e.model_copy(update={"stream": self.config.record_as}) for e in self._inner.drain_events()]

    def counters(self) -> Mapping[str, int]:
        return self._inner.counters()

    def close(self) -> None:
        self._inner.close()
