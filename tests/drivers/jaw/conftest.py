from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.common.faults import FaultSettings, FaultSwitchboard
from drivers.jaw.aurora.config import AuroraConfig
from drivers.jaw.aurora.simulator import AuroraSimulator


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[AuroraSimulator]:
    faults = FaultSwitchboard(FaultSettings(stall_s=0.4, unplug_s=0.4, seq_jump=5, drift_ppm=100.0))
    s = AuroraSimulator(link=tmp_path / "aurora", seed=3, faults=faults).start()
    yield s
    s.close()


def make_cfg(sim: AuroraSimulator, **kw: object) -> AuroraConfig:
    base: dict[str, object] = dict(
        path=sim.path,
        incisal_offset_mm=tuple(sim.incisal_offset),
        icp_mm=tuple(sim.icp_head),
        simulated=True,
        reset_timeout_s=1.0,
    )
    base.update(kw)
    return AuroraConfig(**base)  # type: ignore[arg-type]
