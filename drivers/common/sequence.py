"""Continuing `device_seq` across an outage (unplug, power cycle, re-initialisation).

A device's own counter restarts after an outage, but the record's `device_seq` must keep increasing and the
outage must show as a gap of the length it lasted, so the QC counts the samples it cost. Every driver places the
first sample after the outage with the same rule, from the time that sample was emitted (or its best estimate)
and the time of the last sample before the outage, at the nominal rate.
"""

from __future__ import annotations

from typing import NamedTuple


class Continuation(NamedTuple):
    first_seq: int  # device_seq of the first sample after the outage
    lost: int  # samples estimated lost in the outage (>= 0)


def continue_after_outage(last_seq: int, last_t: float, first_t: float, rate: float) -> Continuation:
    """`first_t` is the (estimated) emission time of the first new sample, `last_t` that of sample `last_seq`.

    The samples that fit between them at `rate` are counted lost: round((first_t - last_t) * rate) - 1, at
    least 0, so the first new sample never reuses or precedes `last_seq`.
    """
    if rate <= 0:
        raise ValueError(f"continue_after_outage needs a nominal rate > 0, got {rate}")
    lost = max(0, int(round((first_t - last_t) * rate)) - 1)
    return Continuation(last_seq + 1 + lost, lost)
