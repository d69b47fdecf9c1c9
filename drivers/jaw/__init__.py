"""Mandibular (jaw) trackers. `aurora`: NDI Aurora / Polaris over the Combined API (serial)."""
