"""`ScanRejected`: a capture file that cannot be accepted, with the file and the problem named."""

from __future__ import annotations


class ScanRejected(Exception):
    """A broken capture: `file` is the file at fault and `problem` one specific sentence, both in the record's
    names (`capture_3/mesh.obj`, see `aliases`), never the vendor's file names. `detail` may name vendor files
    (a missing texture the MTL references): it goes only into the `.reason.txt` beside the file in the vendor's
    export folder, never into the record or a log line."""

    def __init__(self, file: str, problem: str, *, detail: str = "") -> None:
        super().__init__(f"{file}: {problem}")
        self.file = file
        self.problem = problem
        self.detail = detail
