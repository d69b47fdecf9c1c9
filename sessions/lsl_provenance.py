"""What a recording of LSL streams is, from what the streams say: simulated, a replay of a sealed visit, or neither.

Why here and not left to the operator's `--simulated`: `amuse-acq replay FILE --lsl` publishes a sealed visit
again under names of its own (`-replay`), and a recorder given those names would otherwise write a new visit that
looks like trial data. Each outlet says what it is (`desc/acquisition/simulated`, `desc/replay/sha256`, read by
`acquisition.lsl.inlet.LslInletSource.open`); this decides, before the visit is claimed:

- in production, a stream that is a replay or comes from a simulated device is refused in one line naming it
  (the session manager would refuse the visit too, with less to say);
- otherwise the visit is `simulated` if any stream says so (or `--simulated`), and `replay_of` the file the
  replayed streams play, by SHA-256 alone (the player never publishes the file's name, the original's pseudonym).
  Streams replaying two different files are refused: one visit records one replay.
"""

from __future__ import annotations

from collections.abc import Sequence

from acquisition.lsl.inlet import LslInletSource
from acquisition.visitfile.reader import ReplayOf
from sessions.session_errors import SessionError

__all__ = ["recording_provenance"]


def recording_provenance(sources: Sequence[LslInletSource], *, production: bool,
                         simulated: bool = False) -> tuple[bool, ReplayOf | None]:
    """(`simulated`, `replay_of`) of a visit recording the opened `sources`; `SessionError` (one line) when production
    mode refuses one of them or when they replay different files."""
    for src in sources:
        if production and src.replay_sha256 is not None:
            raise SessionError(f"production mode refuses LSL stream {src.config.lsl_name!r}: a replay of sha256 "
                               f"{src.replay_sha256}, never trial data")
        if production and src.simulated:
            raise SessionError(f"production mode refuses LSL stream {src.config.lsl_name!r}: its outlet says its "
                               "device is simulated")
    shas = sorted({src.replay_sha256 for src in sources if src.replay_sha256 is not None})
    if len(shas) > 1:
        raise SessionError(f"the LSL streams replay {len(shas)} different files (sha256 {', '.join(shas)}): record "
                           "each replay as a visit of its own")
    replay_of = ReplayOf(sha256=shas[0]) if shas else None
    return simulated or any(src.simulated for src in sources), replay_of
