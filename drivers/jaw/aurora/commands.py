"""Commands of the Combined API subset this driver uses, and the device-side command parser.

A command is ASCII: NAME, then either a space and the parameters (no CRC), or a colon, the parameters and the
CRC-16 of everything before it as 4 hex digits; then CR. The driver sends the space form; the simulator
accepts both (ndicapi `ndiCommandVA`: a CRC is appended only when a ':' follows the command name).
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.jaw.aurora.crc import crc_hex

#: COMM baud-rate code (first parameter character) -> baud (ndicapi `ndiCOMMHelper` table)
COMM_BAUD_CODES: dict[str, int] = {
    "0": 9600,
    "1": 14400,
    "2": 19200,
    "3": 38400,
    "4": 57600,
    "5": 115200,
    "6": 921600,
    "7": 1228739,
}
BAUD_TO_COMM_CODE: dict[int, str] = {v: k for k, v in COMM_BAUD_CODES.items()}

#: baud rate of the device after power-up or a serial break
RESET_BAUD = 9600

KNOWN_COMMANDS = ("INIT", "COMM", "VER", "APIREV", "PHSR", "PINIT", "PENA", "PHINF", "TSTART", "TSTOP", "TX", "BEEP")


def build(name: str, params: str = "", *, colon: bool = False) -> bytes:
    """Encode one command. `build('TX', '0001')` -> b'TX 0001\\r'; with colon=True -> b'TX:0001<CRC>\\r'."""
    if not name.isalnum() or not name.isupper():
        raise ValueError(f"command name {name!r} must be upper-case letters/digits")
    if any(c in params for c in "\r\n"):
        raise ValueError("command parameters must not contain CR/LF")
    if colon:
        body = f"{name}:{params}".encode("ascii")
        return body + crc_hex(body) + b"\r"
    text = f"{name} {params}" if params else name
    return text.encode("ascii") + b"\r"


def comm_params(baud: int) -> str:
    """COMM parameters for `baud`, 8 data bits, no parity, 1 stop bit, no handshake: e.g. '50000'."""
    try:
        return BAUD_TO_COMM_CODE[baud] + "0000"
    except KeyError:
        raise ValueError(f"baud {baud} is not a Combined API COMM rate ({sorted(BAUD_TO_COMM_CODE)})") from None


@dataclass(frozen=True)
class ParsedCommand:
    name: str
    params: str
    colon: bool


class CommandSyntaxError(ValueError):
    def __init__(self, code: int, why: str) -> None:
        self.code = code  # the ERRORxx code the device answers with
        super().__init__(why)


def parse(line: bytes) -> ParsedCommand:
    """Device side: one command line without its CR. Raises CommandSyntaxError carrying the ERROR code."""
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise CommandSyntaxError(0x01, "non-ASCII bytes in command") from None
    if not text:
        raise CommandSyntaxError(0x03, "empty command")
    if len(text) > 1024:
        raise CommandSyntaxError(0x02, "command too long")
    i = 0
    while i < len(text) and (text[i].isupper() or text[i].isdigit()) and text[i].isascii():
        i += 1
    name = text[:i]
    rest = text[i:]
    if not name:
        raise CommandSyntaxError(0x01, f"no command name in {text!r}")
    if rest.startswith(":"):
        if len(rest) < 5:
            raise CommandSyntaxError(0x04, "colon form without CRC")
        body, crc = text[:-4], text[-4:]
        if crc_hex(body.encode("ascii")).decode() != crc.upper():
            raise CommandSyntaxError(0x04, "bad command CRC")
        return ParsedCommand(name, body[i + 1 :], True)
    if rest.startswith(" "):
        return ParsedCommand(name, rest[1:], False)
    if rest:
        raise CommandSyntaxError(0x01, f"bad separator after {name!r}")
    return ParsedCommand(name, "", False)
