"""Step names, the visit battery and repetition timing."""

from __future__ import annotations

import pytest

from drivers.signals import steps as S
from drivers.signals.schedule import task_windows


def test_step_names_are_the_api_strings() -> None:
    assert S.STEPS == (
        "idle", "emg_rest", "emg_cotton_roll", "emg_clench_icp", "jaw_max_opening", "jaw_protrusion",
        "jaw_laterotrusion_r", "jaw_laterotrusion_l", "jaw_freeway", "jaw_swallow", "stab_eyes_open",
        "stab_eyes_closed", "stab_off",
    )  # fmt: skip
    assert len(set(S.STEPS)) == len(S.STEPS)


def test_visit_battery_follows_the_protocol_order() -> None:
    steps = [b.step for b in S.VISIT_BATTERY]
    assert steps == [
        S.EMG_REST, S.EMG_COTTON_ROLL, S.EMG_CLENCH_ICP, S.JAW_MAX_OPENING, S.JAW_PROTRUSION,
        S.JAW_LATEROTRUSION_R, S.JAW_LATEROTRUSION_L, S.JAW_FREEWAY, S.JAW_SWALLOW, S.STAB_EYES_OPEN,
        S.STAB_EYES_CLOSED,
    ]  # fmt: skip
    by = {b.step: b for b in S.VISIT_BATTERY}
    assert by[S.EMG_REST].duration_s == 10.0 and by[S.EMG_COTTON_ROLL].duration_s == 5.0
    assert by[S.STAB_EYES_OPEN].duration_s == by[S.STAB_EYES_CLOSED].duration_s == 51.2
    for step in (S.EMG_CLENCH_ICP, S.JAW_MAX_OPENING, S.JAW_PROTRUSION, S.JAW_LATEROTRUSION_R, S.JAW_FREEWAY,
                 S.JAW_SWALLOW):  # fmt: skip
        assert by[step].repetitions == 3
    step, reps, dur = S.VISIT_BATTERY[0]  # plain tuple unpacking works
    assert (step, reps, dur) == ("emg_rest", 1, 10.0)


def test_unknown_step_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown protocol step 'jaw_open'"):
        S.check_step("jaw_open")
    with pytest.raises(ValueError, match="duration_s"):
        task_windows(S.JAW_MAX_OPENING, 0.0)


@pytest.mark.parametrize("item", S.VISIT_BATTERY, ids=lambda b: b.step)
def test_task_windows_fit_inside_the_step(item: S.BatteryItem) -> None:
    w = task_windows(item.step, item.duration_s)
    if item.step in (S.EMG_REST, S.STAB_EYES_OPEN, S.STAB_EYES_CLOSED):
        assert w == []
        return
    assert len(w) == item.repetitions
    prev_off = 0.0
    for win in w:
        assert prev_off <= win.on_s < win.plateau_start_s < win.plateau_end_s < win.off_s <= item.duration_s
        prev_off = win.off_s


def test_standardisation_and_clench_central_3s_lie_on_the_plateau() -> None:
    for step, dur in ((S.EMG_COTTON_ROLL, 5.0), (S.EMG_CLENCH_ICP, 24.0)):
        for win in task_windows(step, dur):
            c0, c1 = win.central(3.0)
            assert win.plateau_start_s <= c0 and c1 <= win.plateau_end_s, (step, win)
