"""Replay of a sealed visit file: its recorded streams, device events and scans fed back through the `Source` and
`ScanSource` contracts, on a virtual clock (`docs/replay.md`).

Kept light on purpose (no imports here): each module is one concept, imported where it is used.

- `clock`: `ReplayClock`, the virtual LSL clock of a replay and the horizon up to which sources hand over;
- `origin`: `ReplayOrigin` (the file replayed and its SHA-256) and the replay's device identities;
- `source`: `ReplaySource`, one original source's streams and device events;
- `scans`: `ReplayScanSource`, the original's face-scanner captures;
- `plan`: `ReplayPlan`, what the original session did and when (sources, steps, events), read from the file;
- `lsl_player`: the live replay on LSL (another module, `docs/replay-lsl.md`).
"""
