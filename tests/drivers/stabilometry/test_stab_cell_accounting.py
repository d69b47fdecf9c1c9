"""CellBoardSource counters: every byte read is in a decoded frame, skipped, or (cut by the close) pending; every
frame decoded is stored or counted; a frame cut by an unplug, or held behind a cut reply header, is not lost
silently."""

from __future__ import annotations

import numpy as np

from drivers.stabilometry.cell_board.codec import SYNC, encode_reply, encode_sample
from drivers.stabilometry.cell_board.driver import CellBoardSource
from drivers.stabilometry.config import CellBoardConfig

from .conftest import cat, names, pump

REPLIES = {b"STOP": "OK STOP", b"ID?": "ID AMUSE-CB4;SIM-CB4-7;1.0", b"CAL?": "CAL 0,0,0,0;1e-5,1e-5,1e-5,1e-5",
           b"RATE 100": "OK RATE 100", b"START": "OK START"}


class ScriptedLink:
    """Stands for SerialLink: answers the board's commands, then delivers the bytes a test queues."""

    def __init__(self) -> None:
        self.generation = 1
        self.connected = True
        self.inbox = bytearray()
        self.transitions: list[tuple[str, str]] = []
        self.stale = encode_sample(900, (1, 1, 1, 1))  # a sample still in flight from before the STOP

    def open(self) -> None:
        pass

    def write(self, data: bytes) -> bool:
        for line in data.split(b"\n"):
            if line in REPLIES:
                self.inbox += encode_reply(REPLIES[line])
                if line == b"STOP":
                    self.inbox += self.stale
                    self.stale = b""
        return True

    def read(self, timeout: float) -> bytes:
        out, self.inbox = bytes(self.inbox), bytearray()
        return out

    def take_transitions(self) -> list[tuple[str, str]]:
        out, self.transitions = self.transitions, []
        return out

    def close(self) -> None:
        self.connected = False


def samples(first: int, n: int) -> bytes:
    return b"".join(encode_sample(k & 0xFFFF, (50_000, 50_000, 50_000, 50_000)) for k in range(first, first + n))


def exact(c: dict) -> None:
    assert c["bytes_in"] == c["bytes_decoded"] + c["bytes_skipped"] + c.get("bytes_pending_at_close", 0)


def test_a_frame_cut_by_an_unplug_and_frames_held_behind_a_cut_header_are_counted() -> None:
    src = CellBoardSource(CellBoardConfig(port="/dev/null", stall_s=10.0))
    link = ScriptedLink()
    src._link = link  # type: ignore[assignment]
    src.open()
    link.inbox += samples(0, 10)
    out, _ = pump(src, 0.05)
    # the board is unplugged: the last bytes read are a reply header cut after its length byte, 3 whole samples,
    # and half a sample; then a new port, and the board starts again from counter 0
    link.inbox += SYNC + bytes([0x02, 180]) + samples(10, 3) + samples(13, 1)[:9]
    src.read(0.0)
    link.generation += 1
    link.transitions = [("disconnected", "gone"), ("reconnected", "back")]
    out2, events = pump(src, 0.05)
    link.inbox += samples(0, 5)
    out3, _ = pump(src, 0.05)
    src.close()
    c = dict(src.counters())
    seq = np.concatenate([cat(o["plate_raw"], "device_seq") for o in (out, out2, out3) if o["plate_raw"]])
    # the 3 samples behind the cut header were decoded when the old port ended, in the old run
    assert seq[:13].tolist() == list(range(13))
    assert c["frames"] == 18 and c["truncated_frames"] == 2 and c["frames_discarded_at_open"] == 1
    assert "frame.truncated" in names(events)
    exact(c)


def test_driver_counters_account_for_every_byte_on_the_simulator(tmp_link) -> None:
    from drivers.common.faults import FaultSettings, FaultSwitchboard
    from drivers.stabilometry.cell_board.simulator import CellBoardSimulator

    sim = CellBoardSimulator(link=tmp_link, faults=FaultSwitchboard(FaultSettings(seq_jump=3)), keep_truth=True).start()
    src = CellBoardSource(CellBoardConfig(port=sim.path, stall_s=0.25))
    try:
        src.open()
        pump(src, 0.2)
        for f in ("bad_crc", "truncated", "garbage", "seq_jump"):
            sim.faults.arm(f)  # type: ignore[arg-type]
            pump(src, 0.15)
    finally:
        src.close()
        sim.stop()
    c = dict(src.counters())
    assert c["bytes_in"] > 19 * 30 and c["crc_errors"] >= 1 and c["bytes_skipped"] > 0
    exact(c)
    # frames decoded = frames stored + frames discarded while opening (before START)
    assert src._dec.stats.frames == c["frames"] + c["frames_discarded_at_open"]
