"""USB identity through the real pyusb code path (usb.core.find, usb.util.get_string) on a simulated backend."""

from __future__ import annotations

from pathlib import Path

import pytest
import usb.core
import usb.util

from acquisition.source import SourceError
from drivers.scanner.source import ScannerConfig, ScannerSource
from drivers.scanner.usb_identity import UsbExpectation, UsbIdentityError, check_usb_identity
from drivers.scanner.usb_sim_backend import SimUsbBackend, SimUsbDevice
from drivers.scanner.folder_watch import WatchConfig

MOUSE = SimUsbDevice(vid=0x046D, pid=0xC077, serial=None, product="USB Optical Mouse", manufacturer="Logitech", address=3)


def test_pyusb_reads_descriptors_over_control_transfers() -> None:
    backend = SimUsbBackend([SimUsbDevice(serial="EVA-1234", product="Scanner X", bcd_device=0x0213)])
    dev = usb.core.find(idVendor=0x1209, idProduct=0x0001, backend=backend)
    assert dev is not None
    assert usb.util.get_string(dev, dev.iSerialNumber) == "EVA-1234"
    assert dev.product == "Scanner X"
    assert dev.bcdDevice == 0x0213
    # langid table + 2 strings: three GET_DESCRIPTOR requests went over ep0
    assert backend.control_transfers == 3
    cfg = dev[0]
    assert cfg.bNumInterfaces == 1 and cfg[(0, 0)].bNumEndpoints == 2
    usb.util.dispose_resources(dev)


def test_right_device_passes() -> None:
    backend = SimUsbBackend([MOUSE, SimUsbDevice(serial="SIM-SCAN-0001")])
    ident = check_usb_identity(UsbExpectation(serial="SIM-SCAN-0001", product_contains="scanner"), backend=backend,
                               simulated=True)
    assert ident.serial == "SIM-SCAN-0001"
    assert ident.model == "A-MUSE simulated face scanner"
    assert ident.firmware == "1.00"
    assert ident.simulated is True
    assert ident.transport == "usb:001:007 1209:0001"


def test_wrong_pid_names_expected_and_found() -> None:
    backend = SimUsbBackend([MOUSE, SimUsbDevice(pid=0x0002)])
    with pytest.raises(UsbIdentityError) as e:
        check_usb_identity(UsbExpectation(), backend=backend)
    msg = str(e.value)
    assert msg.startswith("scanner not found: expected USB 1209:0001")
    assert "1209:0002" in msg and "046d:c077" in msg and "USB Optical Mouse" in msg


def test_wrong_serial_is_refused() -> None:
    backend = SimUsbBackend([SimUsbDevice(serial="OTHER-9")])
    with pytest.raises(UsbIdentityError, match=r"wrong scanner: .*has serial 'OTHER-9', not 'SIM-SCAN-0001'"):
        check_usb_identity(UsbExpectation(serial="SIM-SCAN-0001"), backend=backend)


def test_wrong_product_is_refused() -> None:
    with pytest.raises(UsbIdentityError, match="does not contain 'Eva'"):
        check_usb_identity(UsbExpectation(product_contains="Eva"), backend=SimUsbBackend([SimUsbDevice()]))


def test_missing_device_and_unplugged_device() -> None:
    with pytest.raises(UsbIdentityError, match="found: no USB devices at all"):
        check_usb_identity(UsbExpectation(), backend=SimUsbBackend([]))
    dev = SimUsbDevice()
    backend = SimUsbBackend([dev])
    backend.unplug(dev)
    with pytest.raises(UsbIdentityError, match="scanner not found"):
        check_usb_identity(UsbExpectation(), backend=backend)
    backend.replug(dev)
    assert check_usb_identity(UsbExpectation(), backend=backend).serial == "SIM-SCAN-0001"


def test_unplug_during_string_read_is_a_clear_error() -> None:
    dev = SimUsbDevice()
    backend = SimUsbBackend([dev])
    found = usb.core.find(idVendor=dev.vid, backend=backend)
    backend.unplug(dev)
    # pyusb turns the ENODEV of the langid request into "no langid" (ValueError); check_usb_identity catches both
    with pytest.raises((usb.core.USBError, ValueError)):
        _ = found.serial_number
    with pytest.raises(usb.core.USBError, match="No such device"):
        usb.util.get_string(found, found.iSerialNumber, langid=0x0409)


def test_source_open_checks_identity(tmp_path: Path) -> None:
    watch = WatchConfig(folder=tmp_path)
    good = ScannerSource(ScannerConfig(watch=watch, usb=UsbExpectation(serial="SIM-SCAN-0001"), simulated=True),
                         usb_backend=SimUsbBackend())
    good.open()
    assert good.identity is not None and good.identity.serial == "SIM-SCAN-0001"
    ev = good.drain_events()
    assert [e.name for e in ev] == ["device.opened"] and ev[0].kind == "device"
    bad = ScannerSource(ScannerConfig(watch=watch, usb=UsbExpectation(serial="NOPE")), usb_backend=SimUsbBackend())
    with pytest.raises(SourceError, match="NOPE"):
        bad.open()
    with pytest.raises(SourceError, match="does not exist"):
        ScannerSource(ScannerConfig(watch=WatchConfig(folder=tmp_path / "absent"))).open()
