"""Pre-flight check of the scanner's USB identity (VID/PID, serial, product string) through pyusb.

The scanner delivers its captures as files (see `folder_watch`), but the technician must scan with the
trial's scanner: pre-flight finds it on the USB bus by VID/PID, reads its serial and product strings with
standard GET_DESCRIPTOR requests and compares them with the configuration. A missing or different device
raises `UsbIdentityError` naming what was expected and every device that was found.
"""

from __future__ import annotations

from typing import Any

import usb.core
import usb.util
from pydantic import BaseModel, ConfigDict, Field

from acquisition.source import SourceError
from acquisition.stream import DeviceIdentity
from drivers.scanner.usb_sim_backend import DEFAULT_SIM_PID, DEFAULT_SIM_VID


class UsbIdentityError(SourceError):
    """The expected scanner is not on the bus, or a different one is."""


class UsbExpectation(BaseModel):
    """What the site's scanner must look like on USB. `serial=None` accepts any serial (logged)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vid: int = Field(default=DEFAULT_SIM_VID, ge=0, le=0xFFFF)
    pid: int = Field(default=DEFAULT_SIM_PID, ge=0, le=0xFFFF)
    serial: str | None = None
    product_contains: str | None = Field(default=None, description="substring the product string must contain")
    model: str = Field(default="face scanner", description="model name recorded in the visit file")


def _hex(vid: int, pid: int) -> str:
    return f"{vid:04x}:{pid:04x}"


def _safe_string(dev: Any, attr: str) -> str | None:
    try:
        return getattr(dev, attr)
    except (usb.core.USBError, ValueError, NotImplementedError) as exc:
        return f"<unreadable: {exc}>"


def describe_device(dev: Any) -> str:
    """One line about a pyusb Device: ids, bus/address, product and serial strings (best effort)."""
    return (
        f"{_hex(dev.idVendor, dev.idProduct)} bus {dev.bus} addr {dev.address} "
        f"product={_safe_string(dev, 'product')!r} serial={_safe_string(dev, 'serial_number')!r}"
    )


def check_usb_identity(expected: UsbExpectation, *, backend: Any = None, simulated: bool = False) -> DeviceIdentity:
    """Find the scanner and check its identity. Returns the `DeviceIdentity` to record.

    `backend` is a pyusb backend (None = pyusb's default, i.e. libusb on the exam-room PC; tests pass
    `SimUsbBackend`). Raises `UsbIdentityError` with a one-line message naming expected vs found.
    """
    want = f"USB {_hex(expected.vid, expected.pid)}" + (f" serial {expected.serial!r}" if expected.serial else "")
    try:
        every = list(usb.core.find(find_all=True, backend=backend) or [])
    except usb.core.NoBackendError as exc:
        raise UsbIdentityError(f"scanner check: no USB backend available (install libusb-1.0): {exc}") from exc
    except usb.core.USBError as exc:
        raise UsbIdentityError(f"scanner check: cannot enumerate USB devices: {exc}") from exc
    matches: list[Any] = []
    try:
        matches = list(
            usb.core.find(find_all=True, backend=backend, idVendor=expected.vid, idProduct=expected.pid) or []
        )
        if not matches:
            found = "; ".join(describe_device(d) for d in every) or "no USB devices at all"
            raise UsbIdentityError(f"scanner not found: expected {want}; found: {found}")
        problems: list[str] = []
        for dev in matches:
            try:
                serial = dev.serial_number
                product = dev.product
                manufacturer = dev.manufacturer
            except (usb.core.USBError, ValueError) as exc:
                problems.append(f"{describe_device(dev)}: cannot read string descriptors ({exc}; permissions?)")
                continue
            if expected.serial is not None and serial != expected.serial:
                problems.append(f"{_hex(dev.idVendor, dev.idProduct)} has serial {serial!r}, not {expected.serial!r}")
                continue
            if expected.product_contains and expected.product_contains not in (product or ""):
                problems.append(
                    f"{_hex(dev.idVendor, dev.idProduct)} product {product!r} does not contain "
                    f"{expected.product_contains!r}"
                )
                continue
            bcd = int(dev.bcdDevice)
            return DeviceIdentity(
                model=(product or expected.model)[:120],
                serial=(serial or "unknown")[:120],
                firmware=f"{bcd >> 8:x}.{bcd & 0xFF:02x}",
                vendor=(manufacturer or f"usb:{expected.vid:04x}")[:120],
                simulated=simulated,
                transport=f"usb:{dev.bus:03d}:{dev.address:03d} {_hex(dev.idVendor, dev.idProduct)}",
            )
        raise UsbIdentityError(f"wrong scanner: expected {want}; found: " + "; ".join(problems))
    finally:
        for dev in every + matches:
            usb.util.dispose_resources(dev)
