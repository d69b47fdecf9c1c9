"""A custom pyusb backend that presents simulated USB devices (the scanner's USB identity).

The real pyusb code path runs on top of it: `usb.core.find(..., backend=SimUsbBackend(...))` enumerates the
simulated devices, builds `usb.core.Device` objects from their device descriptors, and `usb.util.get_string`
reads the manufacturer / product / serial strings with standard GET_DESCRIPTOR control transfers, which this
backend answers from byte-exact USB 2.0 descriptors (device 18 bytes, configuration 9 + interface 9 +
endpoints 7 each, string descriptors UTF-16LE with a LANGID table at index 0).

Only what identification needs is implemented: enumeration, descriptors, open/close, standard control
transfers (GET_DESCRIPTOR, GET_STATUS, GET_CONFIGURATION, SET_CONFIGURATION). Anything else STALLs
(USBError EPIPE), as a real device does for an unsupported request. `unplug()` makes open handles fail with
ENODEV and removes the device from enumeration, like a yanked cable.
"""

from __future__ import annotations

import errno
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

import usb.backend
from usb.core import USBError

#: USB 2.0 descriptor types (spec table 9-5)
DESC_DEVICE = 1
DESC_CONFIGURATION = 2
DESC_STRING = 3
DESC_INTERFACE = 4
DESC_ENDPOINT = 5

#: standard requests (spec table 9-4)
REQ_GET_STATUS = 0x00
REQ_GET_DESCRIPTOR = 0x06
REQ_GET_CONFIGURATION = 0x08
REQ_SET_CONFIGURATION = 0x09

LANGID_EN_US = 0x0409

#: Placeholder identity of the simulated scanner. The USB ids of the commercial face scanners are not
#: published; 0x1209 is the pid.codes open vendor id and 0x0001 its "test PID" reserved for private testing.
#: These are NOT a real scanner's ids: configure the site scanner's VID/PID/serial (read them with `lsusb -v`).
DEFAULT_SIM_VID = 0x1209
DEFAULT_SIM_PID = 0x0001
DEFAULT_SIM_PRODUCT = "A-MUSE simulated face scanner"
DEFAULT_SIM_MANUFACTURER = "amuse-acquisition (simulated)"
DEFAULT_SIM_SERIAL = "SIM-SCAN-0001"


@dataclass
class SimUsbDevice:
    """One simulated device: what its descriptors say."""

    vid: int = DEFAULT_SIM_VID
    pid: int = DEFAULT_SIM_PID
    serial: str | None = DEFAULT_SIM_SERIAL
    product: str | None = DEFAULT_SIM_PRODUCT
    manufacturer: str | None = DEFAULT_SIM_MANUFACTURER
    bcd_device: int = 0x0100
    bcd_usb: int = 0x0200
    device_class: int = 0xFF  # vendor specific
    bus: int = 1
    address: int = 7
    port_number: int = 2
    speed: int = 3  # libusb LIBUSB_SPEED_HIGH
    plugged: bool = field(default=True)

    # string index table: 1 manufacturer, 2 product, 3 serial (0 = absent)
    def strings(self) -> dict[int, str]:
        out: dict[int, str] = {}
        if self.manufacturer is not None:
            out[1] = self.manufacturer
        if self.product is not None:
            out[2] = self.product
        if self.serial is not None:
            out[3] = self.serial
        return out

    def device_descriptor_bytes(self) -> bytes:
        s = self.strings()
        return struct.pack(
            "<BBHBBBBHHHBBBB",
            18,
            DESC_DEVICE,
            self.bcd_usb,
            self.device_class,
            0,
            0,
            64,
            self.vid,
            self.pid,
            self.bcd_device,
            1 if 1 in s else 0,
            2 if 2 in s else 0,
            3 if 3 in s else 0,
            1,
        )

    def configuration_descriptor_bytes(self) -> bytes:
        """Configuration 1, one vendor interface with one bulk IN and one bulk OUT endpoint."""
        intf = struct.pack("<BBBBBBBBB", 9, DESC_INTERFACE, 0, 0, 2, 0xFF, 0, 0, 0)
        ep_in = struct.pack("<BBBBHB", 7, DESC_ENDPOINT, 0x81, 0x02, 512, 0)
        ep_out = struct.pack("<BBBBHB", 7, DESC_ENDPOINT, 0x02, 0x02, 512, 0)
        body = intf + ep_in + ep_out
        head = struct.pack("<BBHBBBBB", 9, DESC_CONFIGURATION, 9 + len(body), 1, 1, 0, 0x80, 250)
        return head + body

    def string_descriptor_bytes(self, index: int, langid: int) -> bytes:
        if index == 0:
            return struct.pack("<BBH", 4, DESC_STRING, LANGID_EN_US)
        s = self.strings().get(index)
        if s is None or langid != LANGID_EN_US:
            raise USBError("Pipe error (STALL: no such string descriptor)", errno.EPIPE)
        raw = s.encode("utf-16-le")[:252]
        return bytes([2 + len(raw), DESC_STRING]) + raw


class _Desc:
    """A descriptor as pyusb wants it: fields as attributes."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


def _parse_device_descriptor(raw: bytes, dev: SimUsbDevice) -> _Desc:
    names = (
        "bLength bDescriptorType bcdUSB bDeviceClass bDeviceSubClass bDeviceProtocol bMaxPacketSize0 "
        "idVendor idProduct bcdDevice iManufacturer iProduct iSerialNumber bNumConfigurations"
    ).split()
    values = struct.unpack("<BBHBBBBHHHBBBB", raw)
    d = _Desc(**dict(zip(names, values)))
    d.bus = dev.bus
    d.address = dev.address
    d.port_number = dev.port_number
    d.port_numbers = (dev.port_number,)
    d.speed = dev.speed
    return d


class _Handle:
    def __init__(self, dev: SimUsbDevice) -> None:
        self.dev = dev
        self.configuration = 0
        self.closed = False


class SimUsbBackend(usb.backend.IBackend):
    """pyusb backend over a list of `SimUsbDevice` (thread-safe plug/unplug)."""

    def __init__(self, devices: list[SimUsbDevice] | None = None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.devices: list[SimUsbDevice] = list(devices) if devices is not None else [SimUsbDevice()]
        self.control_transfers = 0  # how many control transfers the host issued (tests check the wire was used)

    # -- simulation controls -------------------------------------------------------------------------
    def unplug(self, dev: SimUsbDevice) -> None:
        with self._lock:
            dev.plugged = False

    def replug(self, dev: SimUsbDevice) -> None:
        with self._lock:
            dev.plugged = True

    # -- IBackend ------------------------------------------------------------------------------------
    def enumerate_devices(self):  # type: ignore[no-untyped-def]
        with self._lock:
            present = [d for d in self.devices if d.plugged]
        yield from present

    def get_parent(self, dev):  # type: ignore[no-untyped-def]
        return None

    def get_device_descriptor(self, dev):  # type: ignore[no-untyped-def]
        return _parse_device_descriptor(dev.device_descriptor_bytes(), dev)

    def get_configuration_descriptor(self, dev, config):  # type: ignore[no-untyped-def]
        if config != 0:
            raise IndexError("configuration index out of range")
        raw = dev.configuration_descriptor_bytes()
        names = "bLength bDescriptorType wTotalLength bNumInterfaces bConfigurationValue iConfiguration bmAttributes bMaxPower"
        d = _Desc(**dict(zip(names.split(), struct.unpack("<BBHBBBBB", raw[:9]))))
        d.extra_descriptors = []
        return d

    def get_interface_descriptor(self, dev, intf, alt, config):  # type: ignore[no-untyped-def]
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError("interface index out of range")
        raw = dev.configuration_descriptor_bytes()[9:18]
        names = "bLength bDescriptorType bInterfaceNumber bAlternateSetting bNumEndpoints bInterfaceClass bInterfaceSubClass bInterfaceProtocol iInterface"
        d = _Desc(**dict(zip(names.split(), struct.unpack("<BBBBBBBBB", raw))))
        d.extra_descriptors = []
        return d

    def get_endpoint_descriptor(self, dev, ep, intf, alt, config):  # type: ignore[no-untyped-def]
        if (intf, alt, config) != (0, 0, 0) or ep not in (0, 1):
            raise IndexError("endpoint index out of range")
        raw = dev.configuration_descriptor_bytes()[18 + 7 * ep : 25 + 7 * ep]
        names = "bLength bDescriptorType bEndpointAddress bmAttributes wMaxPacketSize bInterval"
        d = _Desc(**dict(zip(names.split(), struct.unpack("<BBBBHB", raw))))
        d.bRefresh = 0
        d.bSynchAddress = 0
        d.extra_descriptors = []
        return d

    def open_device(self, dev):  # type: ignore[no-untyped-def]
        with self._lock:
            if not dev.plugged:
                raise USBError("No such device (it may have been disconnected)", errno.ENODEV)
        return _Handle(dev)

    def close_device(self, dev_handle):  # type: ignore[no-untyped-def]
        dev_handle.closed = True

    def set_configuration(self, dev_handle, config_value):  # type: ignore[no-untyped-def]
        self._check(dev_handle)
        if config_value not in (0, 1):
            raise USBError("Pipe error (STALL: bad configuration value)", errno.EPIPE)
        dev_handle.configuration = config_value

    def get_configuration(self, dev_handle):  # type: ignore[no-untyped-def]
        self._check(dev_handle)
        return dev_handle.configuration

    def claim_interface(self, dev_handle, intf):  # type: ignore[no-untyped-def]
        self._check(dev_handle)

    def release_interface(self, dev_handle, intf):  # type: ignore[no-untyped-def]
        self._check(dev_handle)

    def _check(self, h: _Handle) -> None:
        with self._lock:
            if h.closed or not h.dev.plugged:
                raise USBError("No such device (it may have been disconnected)", errno.ENODEV)

    def ctrl_transfer(self, dev_handle, bmRequestType, bRequest, wValue, wIndex, data, timeout):  # type: ignore[no-untyped-def]
        self._check(dev_handle)
        self.control_transfers += 1
        dev: SimUsbDevice = dev_handle.dev
        direction_in = bool(bmRequestType & 0x80)
        rtype = (bmRequestType >> 5) & 0x03
        if rtype != 0:  # class / vendor requests: not supported by the simulated identity
            raise USBError("Pipe error (STALL: unsupported request)", errno.EPIPE)
        if direction_in:
            if bRequest == REQ_GET_DESCRIPTOR:
                dtype, dindex = wValue >> 8, wValue & 0xFF
                if dtype == DESC_DEVICE:
                    reply = dev.device_descriptor_bytes()
                elif dtype == DESC_CONFIGURATION and dindex == 0:
                    reply = dev.configuration_descriptor_bytes()
                elif dtype == DESC_STRING:
                    reply = dev.string_descriptor_bytes(dindex, wIndex)
                else:
                    raise USBError("Pipe error (STALL: no such descriptor)", errno.EPIPE)
            elif bRequest == REQ_GET_STATUS:
                reply = struct.pack("<H", 0)
            elif bRequest == REQ_GET_CONFIGURATION:
                reply = bytes([dev_handle.configuration])
            else:
                raise USBError("Pipe error (STALL: unsupported request)", errno.EPIPE)
            n = min(len(reply), len(data) * data.itemsize)
            for i in range(n):
                data[i] = reply[i]
            return n
        if bRequest == REQ_SET_CONFIGURATION:
            self.set_configuration(dev_handle, wValue & 0xFF)
            return 0
        raise USBError("Pipe error (STALL: unsupported request)", errno.EPIPE)
