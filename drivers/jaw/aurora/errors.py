"""ERRORxx replies of the Combined API, decoded into messages.

Codes and wording follow the error table of the public NDI host library ndicapi (PlusToolkit/ndicapi,
`ndiErrorString`), which transcribes the NDI Combined API guide. Codes outside the table are reported as
"unrecognised error code 0xNN" with the code, never dropped.
"""

from __future__ import annotations

ERROR_MESSAGES: dict[int, str] = {
    0x01: "Invalid command",
    0x02: "Command too long",
    0x03: "Command too short",
    0x04: "Invalid CRC calculated for command",
    0x05: "Time-out on command execution",
    0x06: "Unable to set up new communication parameters",
    0x07: "Incorrect number of command parameters",
    0x08: "Invalid port handle selected",
    0x09: "Invalid tracking priority selected (must be S, D or B)",
    0x0A: "Invalid LED selected",
    0x0B: "Invalid LED state selected (must be B, F or S)",
    0x0C: "Command is invalid while in the current mode",
    0x0D: "No tool assigned to the selected port handle",
    0x0E: "Selected port handle not initialized",
    0x0F: "Selected port handle not enabled",
    0x10: "System not initialized",
    0x11: "Unable to stop tracking",
    0x12: "Unable to start tracking",
    0x13: "Unable to initialize Tool-in-Port",
    0x14: "Invalid Position Sensor or Field Generator characterization parameters",
    0x15: "Unable to initialize the Measurement System",
    0x16: "Unable to start diagnostic mode",
    0x17: "Unable to stop diagnostic mode",
    0x18: "Unable to determine environmental infrared or magnetic interference",
    0x19: "Unable to read device's firmware version information",
    0x1A: "Internal Measurement System error",
    0x1B: "Unable to initialize for environmental infrared diagnostics",
    0x1C: "Unable to set marker firing signature",
    0x1D: "Unable to search for SROM IDs",
    0x1E: "Unable to read SROM data",
    0x1F: "Unable to write SROM data",
    0x20: "Unable to select SROM",
    0x21: "Unable to perform tool current test",
    0x22: "Unable to find camera parameters for the wavelength of a tool enabled for tracking",
    0x23: "Command parameter out of range",
    0x24: "Unable to select parameters by volume",
    0x25: "Unable to determine Measurement System supported features list",
    0x28: "SCU hardware has changed state; a card has been removed or added",
    0x29: "Main processor firmware corrupt",
    0x2A: "No memory available for dynamic allocation (heap is full)",
    0x2B: "Requested handle has not been allocated",
    0x2C: "Requested handle has become unoccupied",
    0x2D: "All handles have been allocated",
    0x2E: "Invalid port description",
    0x2F: "Requested port already assigned to a port handle",
    0x30: "Invalid input or output state",
    0xF1: "Too much environmental infrared",
    0xF4: "Unable to read Flash EPROM",
    0xF5: "Unable to write Flash EPROM",
    0xF6: "Unable to erase Flash EPROM",
}


def describe_error(code: int) -> str:
    """'ERROR0C: Command is invalid while in the current mode' style message."""
    text = ERROR_MESSAGES.get(code, f"unrecognised error code 0x{code:02X}")
    return f"ERROR{code:02X}: {text}"


class DeviceErrorReply(RuntimeError):
    """The device answered a command with ERRORxx."""

    def __init__(self, command: str, code: int) -> None:
        self.command = command
        self.code = code
        super().__init__(f"NDI device rejected {command!r}: {describe_error(code)}")
