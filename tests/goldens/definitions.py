"""The golden visits: what each one records (sources, steps, faults) and what it must be seen to contain.

One definition serves both sides: `regenerate.py` records a golden from it (and refuses a recording whose fault
did not show), and `tests/sessions/test_goldens.py` checks the committed golden and its replay against the same
claims. A fault that was armed but never reached the file (a simulator that fired it too late, a driver that
stopped reporting it) would otherwise give a golden that tests nothing while saying it does.

Claims are read through the one visit file reader (`VisitFile`), never by the file layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from acquisition.config import AcqSettings
from acquisition.visitfile.reader import VisitFile
from drivers.common.faults import FaultName

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "data" / "golden"
#: the issue's budget for all goldens together (they are committed and replayed on every CI run)
MAX_TOTAL_BYTES = 5 * 1024 * 1024
SITE = "SIM"
OPERATOR = "golden"


def golden_settings(data_dir: Path) -> AcqSettings:
    """What a golden is recorded and replayed with: no LSL outlets (CI runs beside other tests' streams), the
    simulated rig's site, the default thresholds (the stall watch's 1 s among them)."""
    return AcqSettings(data_dir=data_dir, create_data_dir=True, site=SITE, lsl_outlets=False)


#: the rig's drivers by the name of the source they open (sessions.simulated_rig.SimulatedRig.sources)
SourceName = Literal["bitalino", "aurora", "cell_board", "scanner"]
#: the rig's simulated devices (sessions.simulated_rig.SimulatedRig.arm_fault)
DeviceName = Literal["emg_a", "emg_b", "aurora", "plate", "scanner"]


class FaultAt(BaseModel):
    """Arm `fault` `count` times on `device`, `at_s` seconds into the step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: DeviceName
    fault: FaultName
    count: int = Field(default=1, ge=1)
    at_s: float = Field(ge=0)


class StepPlan(BaseModel):
    """One protocol step of a golden: a device step of `seconds`, a scan, the photo set, or a manual step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: Literal["device", "scan", "photos", "manual"] = "device"
    seconds: float = Field(default=0.0, ge=0)
    scan_format: Literal["obj", "ply", "stl"] = "ply"
    faults: tuple[FaultAt, ...] = ()


class EventClaim(BaseModel):
    """Between `at_least` and `at_most` events `name` on `stream` (with `detected_by`, if given, in the payload)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    stream: str
    at_least: int = Field(default=1, ge=0)
    at_most: int | None = None
    detected_by: str | None = None

    def check(self, vf: VisitFile) -> str | None:
        evs = [e for e in vf.events(name=self.name, stream=self.stream)
               if self.detected_by is None or e.payload.get("detected_by") == self.detected_by]
        n = len(evs)
        if n < self.at_least or (self.at_most is not None and n > self.at_most):
            return f"{self.describe()}: found {n}"
        return None

    def describe(self) -> str:
        bound = (f"exactly {self.at_least}" if self.at_most == self.at_least
                 else f"{self.at_least} to {self.at_most}" if self.at_most is not None else f"at least {self.at_least}")
        by = f" (detected_by={self.detected_by})" if self.detected_by else ""
        return f"{bound} {self.name} event(s) on {self.stream}{by}"


class GapClaim(BaseModel):
    """Between `at_least` and `at_most` rows in the gaps table of `stream`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stream: str
    at_least: int = Field(default=1, ge=0)
    at_most: int | None = None

    def check(self, vf: VisitFile) -> str | None:
        if self.stream not in vf.streams:
            return f"{self.describe()}: the file has no stream {self.stream!r}"
        n = len(vf.streams[self.stream].gaps)
        if n < self.at_least or (self.at_most is not None and n > self.at_most):
            return f"{self.describe()}: found {n}"
        return None

    def describe(self) -> str:
        if self.at_most == 0:
            return f"no gap in {self.stream}"
        bound = f"at least {self.at_least}" if self.at_most is None else f"{self.at_least} to {self.at_most}"
        return f"{bound} gap(s) in {self.stream}"


class Golden(BaseModel):
    """One golden visit: its identity, the sources it records, its steps (with their faults), its claims."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    subject: str
    visit: Literal["D0", "W4", "W12", "W24"]
    about: str
    sources: tuple[SourceName, ...]
    steps: tuple[StepPlan, ...]
    claims: tuple[EventClaim | GapClaim, ...] = ()
    seed: int = 0

    @property
    def key(self) -> str:
        return f"{self.subject}_{self.visit}"

    @property
    def path(self) -> Path:
        """Where the golden is committed: `<name>/<SUBJECT>_<VISIT>.h5` (the reader refuses a visit file whose
        name is not its own identity's, so the golden's name is its folder)."""
        return GOLDEN_DIR / self.name / f"{self.key}.h5"

    @property
    def summary_path(self) -> Path:
        return GOLDEN_DIR / f"{self.name}.summary.txt"

    def problems(self, path: Path) -> list[str]:
        """The claims that `path` (a sealed visit file) does not satisfy, one line each."""
        with VisitFile.open(path, require_sealed=True) as vf:
            out = [f"{self.name}: {p}" for c in self.claims if (p := c.check(vf)) is not None]
            if (vf.identity.subject, vf.identity.visit, vf.identity.site) != (self.subject, self.visit, SITE):
                out.append(f"{self.name}: identity {vf.identity.subject}/{vf.identity.visit}/{vf.identity.site}, "
                           f"expected {self.subject}/{self.visit}/{SITE}")
            if not vf.identity.simulated:
                out.append(f"{self.name}: not marked simulated")
        return out


_PREFLIGHT = StepPlan(name="preflight", kind="manual")

GOLDENS: tuple[Golden, ...] = (
    Golden(
        name="clean_d0", subject="GLD-001", visit="D0", seed=11,
        about="every instrument, no fault: both BITalino boards, the Aurora, the cell board, one PLY scan and the "
              "photo set",
        sources=("bitalino", "aurora", "cell_board", "scanner"),
        steps=(_PREFLIGHT,
               StepPlan(name="questionnaires", kind="manual"),
               StepPlan(name="scan_max_opening", kind="scan", scan_format="ply"),
               StepPlan(name="photos", kind="photos"),
               StepPlan(name="emg_rest", seconds=1.5),
               StepPlan(name="jaw_max_opening", seconds=1.5),
               StepPlan(name="stab_eyes_open", seconds=2.0)),
        claims=tuple(GapClaim(stream=s, at_least=0, at_most=0)
                     for s in ("emg_a", "emg_b", "jaw_tools", "jaw_incisal", "plate_raw"))
               + (EventClaim(name="link.disconnected", stream="emg_a", at_least=0, at_most=0),),
    ),
    Golden(
        name="emg_unplug", subject="GLD-002", visit="W4", seed=12,
        about="the EMG alone; BITalino board A unplugged 1.2 s into a clench (0.5 s), then back before its end; "
              "board B untouched",
        sources=("bitalino",),
        steps=(_PREFLIGHT,
               StepPlan(name="emg_clench_icp", seconds=4.0,
                        faults=(FaultAt(device="emg_a", fault="unplug", at_s=1.2),))),
        claims=(EventClaim(name="link.disconnected", stream="emg_a", at_least=1, at_most=1),
                EventClaim(name="link.reconnected", stream="emg_a", at_least=1, at_most=1),
                EventClaim(name="samples.missing", stream="emg_a"),
                GapClaim(stream="emg_a"),
                EventClaim(name="link.disconnected", stream="emg_b", at_least=0, at_most=0),
                GapClaim(stream="emg_b", at_least=0, at_most=0)),
    ),
    Golden(
        name="aurora_crc_burst", subject="GLD-003", visit="W12", seed=13,
        about="the jaw tracker alone; a burst of 5 Aurora replies with a wrong CRC 1 s into a maximal opening",
        sources=("aurora",),
        steps=(_PREFLIGHT,
               StepPlan(name="jaw_max_opening", seconds=3.0,
                        faults=(FaultAt(device="aurora", fault="bad_crc", count=5, at_s=1.0),))),
        claims=(EventClaim(name="frame.crc_failed", stream="jaw_tools", at_least=3),),
    ),
    Golden(
        name="plate_stall", subject="GLD-004", visit="W24", seed=14,
        about="the stabilometry plate alone; the cell board goes silent for 2 s (4 stalls of 0.5 s back to back) "
              "1 s into eyes-open, then sends its backlog: stream.stalled and stream.resumed, no sample lost",
        sources=("cell_board",),
        steps=(_PREFLIGHT,
               StepPlan(name="stab_eyes_open", seconds=5.0,
                        faults=(FaultAt(device="plate", fault="stall", count=4, at_s=1.0),))),
        claims=(EventClaim(name="stream.stalled", stream="plate_raw", detected_by="session"),
                EventClaim(name="stream.resumed", stream="plate_raw", detected_by="session"),
                GapClaim(stream="plate_raw", at_least=0, at_most=0)),
    ),
)


def by_name(name: str) -> Golden:
    for g in GOLDENS:
        if g.name == name:
            return g
    raise KeyError(f"no golden named {name!r}; goldens are: {', '.join(g.name for g in GOLDENS)}")
