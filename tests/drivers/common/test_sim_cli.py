"""The shared pieces of `amuse-acq simulate DEVICE` (drivers/common/sim_cli.py)."""

from __future__ import annotations

import argparse
import signal

import pytest

from drivers.common import sim_cli


class _Ticks:
    """A stop event whose `wait` times out `n` times, then reports the stop: the loop runs exactly `n` rounds."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.waits: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return len(self.waits) > self.n


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    sim_cli.add_fault_options(p, ("bad_crc", "stall"))
    return p.parse_args(list(argv))


def test_fault_every_arms_the_listed_faults_again_each_round() -> None:
    args = _args("--fault", "bad_crc=2", "--fault", "stall", "--fault-every", "0.25", "--stall-s", "0.7")
    board = sim_cli.switchboard(args)
    assert board.pending() == 3 and board.settings.stall_s == 0.7
    ticks = _Ticks(4)
    sim_cli.serve_until_stopped(ticks, board, args)  # type: ignore[arg-type]
    assert ticks.waits == [0.25] * 5
    assert board.pending() == 3 * 5  # armed at start, then once per elapsed round
    assert sum(board.take("bad_crc") for _ in range(20)) == 10 and sum(board.take("stall") for _ in range(20)) == 5


def test_without_fault_every_the_faults_are_armed_once() -> None:
    args = _args("--fault", "bad_crc=2")
    board = sim_cli.switchboard(args)
    sim_cli.serve_until_stopped(_Ticks(6), board, args)  # type: ignore[arg-type]
    assert board.pending() == 2


def test_building_turns_a_simulator_value_error_into_a_refusal() -> None:
    with pytest.raises(sim_cli.SimulatorRefused, match=r"^bitalino: a BITalino has six analog inputs$"):
        with sim_cli.building("bitalino"):
            raise ValueError("a BITalino has six analog inputs\nsecond line")


def test_signal_stop_sets_the_event_and_restores_the_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with sim_cli.signal_stop() as stop:
        signal.raise_signal(signal.SIGTERM)
        assert stop.wait(1.0)
    assert signal.getsignal(signal.SIGTERM) is before


def test_standalone_with_several_commands_needs_a_known_name(capsys: pytest.CaptureFixture[str]) -> None:
    from drivers.stabilometry.simulate_cli import COMMANDS

    assert sim_cli.standalone(COMMANDS, ["treadmill"]) == 2
    assert capsys.readouterr().err.strip() == "unknown simulator 'treadmill': choose balance-board or cell-board"
