"""`ScanRejected`: a capture file that cannot be accepted, with the file and the problem named."""

from __future__ import annotations


class ScanRejected(Exception):
    """A broken capture: `file` is the file at fault (base name), `problem` one specific sentence."""

    def __init__(self, file: str, problem: str) -> None:
        super().__init__(f"{file}: {problem}")
        self.file = file
        self.problem = problem
