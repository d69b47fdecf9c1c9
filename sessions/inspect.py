"""Human summary of a visit file: identity, streams (samples, duration, rate), gaps, QC, scans, events."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np


def _s(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def summary_lines(path: Path, *, events: bool = False) -> list[str]:
    out: list[str] = []
    with h5py.File(path, "r") as f:
        a = f.attrs
        out.append(f"visit file {Path(path).name}  schema v{a.get('schema_version')}  state {_s(a.get('state', '?'))}"
                   f"  simulated={bool(a.get('simulated'))}")
        out.append(f"  subject {_s(a.get('subject'))}  visit {_s(a.get('visit'))}  site {_s(a.get('site'))}"
                   f"  operator {_s(a.get('operator'))}")
        out.append(f"  started {_s(a.get('started_utc'))}  closed {_s(a.get('closed_utc'))}"
                   f"  software {_s(a.get('software_version'))}")
        qc = json.loads(f["qc"].attrs.get("streams", "{}")) if "qc" in f else {}
        out.append("  streams:")
        for name in f["streams"]:
            g = f["streams"][name]
            n = g["data"].shape[0]
            t = g["t_lsl"]
            dur = float(t[-1] - t[0]) if n > 1 else 0.0
            rate = (n - 1) / dur if dur > 0 else 0.0
            dev = json.loads(_s(g.attrs["device"]))
            chans = json.loads(_s(g.attrs["channels"]))
            q = qc.get(name, {})
            out.append(
                f"    {name:<14} {n:>9} samples  {dur:8.2f} s  {rate:8.2f} Hz (nominal {g.attrs['nominal_rate']:g})"
                f"  {len(chans)} ch {_s(g.attrs['dtype'])}  gaps {g['gaps'].shape[0]} (missing {int(g.attrs['samples_missing'])})"
                f"  {dev['model']} s/n {dev['serial']}{' [simulated]' if dev.get('simulated') else ''}"
            )
            if q and q.get("expected_by_time"):
                out.append(f"    {'':<14} expected by time {q['expected_by_time']}, by sequence {q['expected_by_seq']}")
        ev = f["events"]["table"] if "table" in f["events"] else None
        n_ev = 0 if ev is None else ev.shape[0]
        kinds: dict[str, int] = {}
        if ev is not None and n_ev:
            for k in ev["kind"]:
                kinds[_s(k)] = kinds.get(_s(k), 0) + 1
        out.append(f"  events: {n_ev}  " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
        dev_events: dict[str, int] = {}
        if ev is not None and n_ev:
            names = ev["name"][:]
            kk = ev["kind"][:]
            for k, nm in zip(kk, names):
                if _s(k) == "device":
                    dev_events[_s(nm)] = dev_events.get(_s(nm), 0) + 1
        if dev_events:
            out.append("  device events: " + ", ".join(f"{k} {v}" for k, v in sorted(dev_events.items())))
        scans = list(f["scans"])
        if scans:
            out.append(f"  scans: {len(scans)}")
            for sid in scans:
                g = f["scans"][sid]
                nv = g["vertices"].shape[0] if "vertices" in g else 0
                m = json.loads(_s(g.attrs.get("metrics", "{}")) or "{}")
                parts = [f"{label} {m[key]:.1f} mm" for key, label in
                         (("aperture_mm", "aperture"), ("mouth_width_mm", "width"),
                          ("inner_perimeter_mm", "inner perimeter")) if m.get(key) is not None]
                out.append(f"    {sid:<22} {nv:>7} vertices  {_s(g.attrs.get('condition', '')):<16} {', '.join(parts)}")
        if "table" in f["outcomes"] and f["outcomes"]["table"].shape[0]:
            out.append("  outcomes:")
            for row in f["outcomes"]["table"][:]:
                out.append(f"    {_s(row['step']):<20} {_s(row['metric']):<28} {row['value']:10.3f} {_s(row['unit'])}")
        src = json.loads(f["qc"].attrs.get("sources", "{}")) if "qc" in f else {}
        for sname, counters in sorted(src.items()):
            nonzero = {k: v for k, v in counters.items() if isinstance(v, (int, float)) and v and k != "samples"}
            if nonzero:
                out.append(f"  qc {sname}: " + ", ".join(f"{k}={v}" for k, v in sorted(nonzero.items())))
        if events and ev is not None:
            out.append("  event list:")
            for row in ev[:]:
                out.append(f"    {row['t_lsl']:14.3f} {_s(row['kind']):<11} {_s(row['name']):<28} "
                           f"{_s(row['step']):<18} {_s(row['payload'])[:80]}")
    return out


def stream_physical(path: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(t_lsl, values in physical units) of one stream: raw * scale + offset."""
    with h5py.File(path, "r") as f:
        g = f["streams"][name]
        raw = g["data"][:].astype(np.float64)
        scale = json.loads(_s(g.attrs["scale"]))
        offset = json.loads(_s(g.attrs["offset"]))
        if scale is not None:
            raw = raw * np.asarray(scale)
        if offset is not None:
            raw = raw + np.asarray(offset)
        return g["t_lsl"][:], raw
