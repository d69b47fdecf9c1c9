"""Argument checks of `amuse-acq`, run before anything is claimed, resolved or started.

A mistake on the command line must cost nothing: before these checks `record --duration -20` recorded half a
second and sealed the visit, and `record --lsl X --lsl X` claimed the visit before refusing the duplicate, leaving
an empty visit that could never be recorded again. Each check here refuses with one line naming the argument,
what was expected and what was given (argparse prints it as `amuse-acq record: error: argument --duration: ...`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from pydantic import ValidationError
from drivers.common.sim_cli import finite_number


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a refused argument is one line (no usage block) and exit 2, like every other error here."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def one_line(text: str, limit: int = 400) -> str:
    """`text` as one printable line: newlines and control characters (escape codes) shown escaped, length bounded.

    Error messages echo what the user typed (a site code, a path); printed raw, `\\e[31m` would colour the
    terminal and a newline would fake a second message.
    """
    out = []
    for ch in str(text):
        if ch == "\n":
            out.append("\\n")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])
    s = "".join(out)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def validation_message(exc: ValidationError, what: str = "") -> str:
    """The first problem of a pydantic ValidationError as one line naming the field and the value given."""
    errs = exc.errors(include_url=False)
    if not errs:
        return one_line(f"{what or exc.title}: invalid")
    e = errs[0]
    field = ".".join(str(x) for x in e.get("loc", ())) or exc.title
    msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
    given = e.get("input")
    shown = f" (given {given!r})" if not isinstance(given, dict) and repr(given)[:80] not in msg else ""
    more = f" (+{len(errs) - 1} more problem(s))" if len(errs) > 1 else ""
    prefix = f"{what}: " if what else ""
    return one_line(f"{prefix}{field}: {msg}{shown}{more}")


def _float(text: str) -> float:
    return finite_number(text, "a number of seconds")


def positive_seconds(text: str) -> float:
    """A finite number of seconds > 0 (`--resolve-timeout`)."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def duration_seconds(text: str) -> float:
    """`--duration`: seconds > 0, or exactly 0 for 'until Ctrl-C / SIGTERM'. Negative is refused."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0 (or 0 = until stopped), got {text!r}")
    return value


def speed_factor(text: str) -> float:
    """`demo --speed`: a finite factor > 0 (a zero or negative speed used to fall back silently to 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a speed-up factor > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0 or value > 1000:
        raise argparse.ArgumentTypeError(f"expected a speed-up factor > 0 and <= 1000, got {text!r}")
    return value


def channel_index(text: str) -> int:
    """`--seq-channel`: a channel index >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a channel index (0, 1, ...), got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a channel index >= 0, got {text!r}")
    return value


def lsl_name(text: str) -> str:
    """`--lsl`: a non-empty stream name of printable characters, without leading or trailing blanks."""
    if text == "" or text.strip() != text or not text.isprintable():
        raise argparse.ArgumentTypeError(
            f"expected an LSL stream name (printable, no leading/trailing blanks), got {text!r}")
    if len(text) > 200:
        raise argparse.ArgumentTypeError(f"expected an LSL stream name of at most 200 characters, got {len(text)}")
    return text


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def log_level(text: str) -> str:
    """`--log-level`: one of DEBUG, INFO, WARNING, ERROR (any case); a typo used to fall back to INFO silently."""
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return text.upper()


def duplicate_lsl(names: Sequence[str]) -> str | None:
    """A one-line reason if two `--lsl` names are the same stream, or would be stored under the same name."""
    from acquisition.lsl.inlet import record_name

    seen: dict[str, str] = {}
    for name in names:
        stored = record_name(name)
        if stored in seen:
            first = seen[stored]
            if first == name:
                return f"--lsl {name!r} is given twice"
            return f"--lsl {first!r} and --lsl {name!r} would both be stored as stream {stored!r}"
        seen[stored] = name
    return None
