"""Protocol step names shared by every signal generator, and the nominal jaw+EMG+stabilometry battery.

A generator that does not care about a step treats it as ``IDLE``. ``VISIT_BATTERY`` lists, in visit order, the
steps of the jaw+sEMG battery followed by stabilometry (the A-MUSE visit protocol): each entry is ``(step, repetitions,
duration_s)`` where ``duration_s`` is the nominal duration of the WHOLE step (all its repetitions happen inside it,
see :func:`drivers.signals.schedule.task_windows`)."""

from __future__ import annotations

from typing import NamedTuple

IDLE = "idle"
EMG_REST = "emg_rest"
EMG_COTTON_ROLL = "emg_cotton_roll"
EMG_CLENCH_ICP = "emg_clench_icp"
JAW_MAX_OPENING = "jaw_max_opening"
JAW_PROTRUSION = "jaw_protrusion"
JAW_LATEROTRUSION_R = "jaw_laterotrusion_r"
JAW_LATEROTRUSION_L = "jaw_laterotrusion_l"
JAW_FREEWAY = "jaw_freeway"
JAW_SWALLOW = "jaw_swallow"
STAB_EYES_OPEN = "stab_eyes_open"
STAB_EYES_CLOSED = "stab_eyes_closed"
STAB_OFF = "stab_off"

STEPS: tuple[str, ...] = (
    IDLE,
    EMG_REST,
    EMG_COTTON_ROLL,
    EMG_CLENCH_ICP,
    JAW_MAX_OPENING,
    JAW_PROTRUSION,
    JAW_LATEROTRUSION_R,
    JAW_LATEROTRUSION_L,
    JAW_FREEWAY,
    JAW_SWALLOW,
    STAB_EYES_OPEN,
    STAB_EYES_CLOSED,
    STAB_OFF,
)

JAW_EMG_STEPS: tuple[str, ...] = STEPS[1:10]
STAB_STEPS: tuple[str, ...] = (STAB_EYES_OPEN, STAB_EYES_CLOSED, STAB_OFF)


class BatteryItem(NamedTuple):
    """One step of the battery: ``repetitions`` tasks inside a step of nominal ``duration_s`` seconds."""

    step: str
    repetitions: int
    duration_s: float


#: Nominal jaw + sEMG battery then stabilometry, in visit order (the A-MUSE visit protocol).
VISIT_BATTERY: tuple[BatteryItem, ...] = (
    BatteryItem(EMG_REST, 1, 10.0),  # rest 10 s
    BatteryItem(EMG_COTTON_ROLL, 1, 5.0),  # standardisation clench on 10-mm cotton rolls, 5 s (central 3 s)
    BatteryItem(EMG_CLENCH_ICP, 3, 24.0),  # max clench in ICP 5 s x3 (8-s slots: rest, ~5.6 s clench, rest)
    BatteryItem(JAW_MAX_OPENING, 3, 15.0),  # max opening / closing x3
    BatteryItem(JAW_PROTRUSION, 3, 12.0),
    BatteryItem(JAW_LATEROTRUSION_R, 3, 12.0),
    BatteryItem(JAW_LATEROTRUSION_L, 3, 12.0),
    BatteryItem(JAW_FREEWAY, 3, 15.0),  # rest position -> habitual closure to ICP, x3
    BatteryItem(JAW_SWALLOW, 3, 12.0),
    BatteryItem(STAB_EYES_OPEN, 1, 51.2),  # AFP 85: 51.2 s, eyes open first
    BatteryItem(STAB_EYES_CLOSED, 1, 51.2),
)

#: Default number of repetitions of each step inside one ``set_step`` (from the battery; 1 for holds).
DEFAULT_REPETITIONS: dict[str, int] = {s: 1 for s in STEPS} | {b.step: b.repetitions for b in VISIT_BATTERY}


def check_step(step: str) -> str:
    """Return ``step`` if it is a known protocol step, else raise a ValueError naming the valid ones."""
    if step not in STEPS:
        raise ValueError(f"unknown protocol step {step!r}; expected one of {', '.join(STEPS)}")
    return step
