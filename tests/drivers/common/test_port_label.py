"""The record keeps a device's name, not the path of the folder the software ran from."""

from __future__ import annotations

import pytest

from drivers.common.port_label import port_label, transport_label


@pytest.mark.parametrize(("path", "label"), [
    ("/dev/ttyUSB0", "ttyUSB0"),
    ("/dev/serial/by-id/usb-PLUX_BITalino-if00-port0", "serial/by-id/usb-PLUX_BITalino-if00-port0"),
    ("/dev/input/event5", "input/event5"),
    ("/dev/pts/3", "pts/3"),
    ("/tmp/amuse-rigs-0/rig-123-456-abc/dev/bitalino_a", "bitalino_a"),
    ("/home/tech/fifo/balance-board.events", "balance-board.events"),
    ("relative/dev/aurora", "aurora"),
    ("COM3", "COM3"),
    ("socket://127.0.0.1:5000", "socket://127.0.0.1:5000"),
    ("", "unknown"),
    ("/", "unknown"),
])
def test_port_label(path: str, label: str) -> None:
    assert port_label(path) == label


def test_transport_label() -> None:
    assert transport_label("serial", "/tmp/amuse-rig-x/dev/aurora") == "serial:aurora"
    assert transport_label("evdev", "/dev/input/event5") == "evdev:input/event5"
