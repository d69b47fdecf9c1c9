"""The visit protocol: which steps, in which order, for which visit code (trial registry NCT07326033).

Facial scanner + photos and jaw tracking + EMG at D0 W4 W12 W24; stabilometry at D0 W12 W24 only (not W4).
Questionnaires and clinician scores are entered elsewhere (eCRF); they appear here as manual steps so the
timeline shows when they happened. A site can replace the whole protocol with a TOML file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sessions.subject import VisitCode

Instrument = Literal["manual", "scanner", "emg_jaw", "stabilometry"]
ALL_VISITS = (VisitCode.D0, VisitCode.W4, VisitCode.W12, VisitCode.W24)


class ProtocolStep(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")
    instrument: Instrument
    title: str
    repetitions: int = Field(default=1, ge=1, le=10)
    duration_s: float = Field(default=0.0, ge=0, description="nominal duration of one repetition")
    visits: tuple[VisitCode, ...] = ALL_VISITS


class Protocol(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "A-MUSE v1"
    steps: tuple[ProtocolStep, ...]

    def for_visit(self, visit: VisitCode) -> list[ProtocolStep]:
        return [s for s in self.steps if visit in s.visits]

    @classmethod
    def load(cls, path: Path) -> "Protocol":
        return cls.model_validate(tomllib.loads(Path(path).read_text()))


def _s(name: str, instrument: Instrument, title: str, reps: int = 1, dur: float = 0.0,
       visits: tuple[VisitCode, ...] = ALL_VISITS) -> ProtocolStep:
    return ProtocolStep(name=name, instrument=instrument, title=title, repetitions=reps, duration_s=dur, visits=visits)


_STAB = (VisitCode.D0, VisitCode.W12, VisitCode.W24)

DEFAULT_PROTOCOL = Protocol(
    steps=(
        _s("preflight", "manual", "Identity / visit check and device self-tests"),
        _s("questionnaires", "manual", "MHISS, sHAQ, OHAT, BoFA, EQ-5D-5L, XI, EDAS21/Epworth (eCRF)"),
        _s("clinician_scores", "manual", "mRSS, plaque index (D0 W12 W24), DMFT (D0 W24) (eCRF)"),
        _s("scan_rest", "scanner", "3D scan, mouth at rest", 3, 10.0),
        _s("scan_max_opening", "scanner", "3D scan, maximal mouth opening", 3, 10.0),
        _s("scan_max_lip_stretch", "scanner", "3D scan, maximal lip stretch", 3, 10.0),
        _s("photos", "scanner", "2D photos: frontal, 3/4 left/right, profile", 1, 30.0),
        _s("emg_electrodes", "manual", "Electrodes placed, 5 min wait", 1, 300.0),
        _s("emg_rest", "emg_jaw", "Rest, 10 s", 1, 10.0),
        _s("emg_cotton_roll", "emg_jaw", "Standardisation clench on 10-mm cotton rolls, 5 s", 1, 5.0),
        _s("emg_clench_icp", "emg_jaw", "Maximal clench in intercuspal position, 5 s", 3, 5.0),
        _s("jaw_max_opening", "emg_jaw", "Maximal opening and closing", 3, 4.0),
        _s("jaw_protrusion", "emg_jaw", "Protrusion", 3, 3.0),
        _s("jaw_laterotrusion_r", "emg_jaw", "Right laterotrusion", 3, 3.0),
        _s("jaw_laterotrusion_l", "emg_jaw", "Left laterotrusion", 3, 3.0),
        _s("jaw_freeway", "emg_jaw", "Rest position then habitual closure (freeway space)", 3, 3.0),
        _s("jaw_swallow", "emg_jaw", "Swallow", 3, 3.0),
        _s("stab_eyes_open", "stabilometry", "Stabilometry, eyes open, 51.2 s", 1, 51.2, _STAB),
        _s("stab_eyes_closed", "stabilometry", "Stabilometry, eyes closed, 51.2 s", 1, 51.2, _STAB),
        _s("injection", "manual", "Injection (D0 only, after baseline measures)", 1, 0.0, (VisitCode.D0,)),
    )
)
