"""Gate `devices`: every configured device was found, with the identity the rig expects; and gate
`production_sources`: production mode refuses a simulated or replayed source.

The identities are those the devices gave when opened (`StreamSpec.device` of each stream, the scanner's USB
identity), never guessed from a port name or a serial prefix. A rig entry names what it expects by stream (a
BITalino board is one stream of the two-board source), by source, or by serial alone; `serial` and `model`, when
given, must equal what the device says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from acquisition.replay.origin import REPLAY_TRANSPORT_PREFIX
from acquisition.source import Source
from acquisition.stream import DeviceIdentity, StreamSpec
from sessions.preflight.result import GateResult, gate

#: an LSL replay of a sealed visit publishes under source ids ending so (acquisition/replay/lsl_player.py)
LSL_REPLAY_SUFFIX = "-replay"


class ExpectedDevice(BaseModel):
    """One device of the rig: `label` (the rig's name for it), how to find it among the opened devices (`stream`,
    `source`, or only `serial`), and the identity it must have (`serial`, `model`; None: not checked)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str = Field(min_length=1, max_length=64)
    stream: str | None = None
    source: str | None = None
    serial: str | None = None
    model: str | None = None

    @model_validator(mode="after")
    def _findable(self) -> "ExpectedDevice":
        if self.stream is None and self.source is None and self.serial is None:
            raise ValueError(f"expected device {self.label!r}: give its stream, its source or its serial")
        return self


class FoundDevice(BaseModel):
    """An opened device: its source, its stream ("" for a scanner), the identity it gave, and the stream's
    description (None for a scanner)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    stream: str = ""
    identity: DeviceIdentity
    spec: StreamSpec | None = None


def found_devices(sources: Iterable[Source], scanners: Iterable[object] = ()) -> list[FoundDevice]:
    """The identities of opened sources (one per stream) and scanners (their `identity`, set by `open`)."""
    out = [FoundDevice(source=src.name, stream=spec.name, identity=spec.device, spec=spec) for src in sources
           for spec in src.streams]
    for sc in scanners:
        ident = getattr(sc, "identity", None)
        if isinstance(ident, DeviceIdentity):
            out.append(FoundDevice(source=str(getattr(sc, "name", "scanner")), identity=ident))
    return out


def _describe(d: FoundDevice) -> dict[str, Any]:
    i = d.identity
    return {"source": d.source, "stream": d.stream, "model": i.model, "serial": i.serial, "firmware": i.firmware,
            "transport": i.transport, "simulated": i.simulated}


def _candidates(exp: ExpectedDevice, found: Sequence[FoundDevice]) -> list[FoundDevice]:
    out = [d for d in found if (exp.stream is None or d.stream == exp.stream)
           and (exp.source is None or d.source == exp.source)]
    if exp.stream is None and exp.source is None:
        out = [d for d in out if d.identity.serial == exp.serial]
    return out


def _where(exp: ExpectedDevice) -> str:
    parts = [f"stream {exp.stream!r}" if exp.stream else "", f"source {exp.source!r}" if exp.source else ""]
    return " of ".join(p for p in parts if p) or f"serial {exp.serial!r}"


def check_devices(expected: Sequence[ExpectedDevice], found: Sequence[FoundDevice],
                  open_errors: Mapping[str, str] | None = None) -> GateResult:
    """Pass when every expected device is among `found` with its expected serial and model. `open_errors`: the
    sources (or rig labels) that failed to open, with their one-line error: each one fails the gate."""
    errors = dict(open_errors or {})
    failures: list[str] = []
    measured: dict[str, Any] = {}
    if not expected:
        failures.append("no device of the rig is configured with its expected identity")
    for exp in expected:
        cands = _candidates(exp, found)
        if not cands:
            err = errors.get(exp.label) or (errors.get(exp.source) if exp.source else None)
            failures.append(f"{exp.label}: not opened: {err}" if err else
                            f"{exp.label}: not found ({_where(exp)}; opened: "
                            f"{', '.join(sorted({d.stream or d.source for d in found})) or 'none'})")
            continue
        measured[exp.label] = [_describe(d) for d in cands]
        for attr in ("serial", "model"):
            want = getattr(exp, attr)
            have = sorted({getattr(d.identity, attr) for d in cands})
            if want is not None and want not in have:
                failures.append(f"{exp.label}: expected {attr} {want!r}, found {', '.join(map(repr, have))}")
    named = {exp.label for exp in expected} | {exp.source for exp in expected if exp.source}
    failures += [f"{name}: not opened: {err}" for name, err in sorted(errors.items()) if name not in named]
    threshold = {e.label: {"stream": e.stream, "source": e.source, "serial": e.serial, "model": e.model}
                 for e in expected}
    ok = "" if failures else ", ".join(
        f"{e.label} ({'/'.join(sorted({d['serial'] for d in measured[e.label]}))})" for e in expected)
    return gate("devices", failures, f"every configured device found: {ok}", measured=measured, threshold=threshold)


def why_not_trial_data(identity: DeviceIdentity) -> str:
    """'simulated' / 'replayed' / '' for a device identity (its `simulated` flag, a replay's transport, an LSL
    replay's source id), read from what the device or its configuration declared."""
    if identity.simulated:
        return "simulated"
    if identity.transport.startswith(REPLAY_TRANSPORT_PREFIX) or identity.serial.endswith(LSL_REPLAY_SUFFIX):
        return "replayed"
    return ""


def check_production(found: Sequence[FoundDevice], *, production: bool, visit_simulated: bool = False,
                     replay_of: str | None = None) -> GateResult:
    """In production mode, fail on any simulated or replayed source (or a visit opened as one); outside it the gate
    passes and says which sources are not trial data."""
    flagged = {f"{d.stream or d.source}": why for d in found if (why := why_not_trial_data(d.identity))}
    if visit_simulated:
        flagged["visit"] = "opened as simulated"
    if replay_of:
        flagged["visit"] = f"a replay of {replay_of}"
    listed = ", ".join(f"{k} ({v})" for k, v in sorted(flagged.items()))
    measured = {"not_trial_data": dict(sorted(flagged.items())), "sources": len({d.source for d in found})}
    threshold = {"production": production}
    if production:
        return gate("production_sources", [f"production mode refuses: {listed}"] if flagged else [],
                    "production mode: every source is a live device", measured=measured, threshold=threshold)
    return gate("production_sources", [], f"not production mode; not trial data: {listed}" if flagged else
                "not production mode; every source is a live device", measured=measured, threshold=threshold)
