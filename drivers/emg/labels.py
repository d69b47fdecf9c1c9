"""The EMG channel labels of the A-MUSE protocol (docs/devices.md, EMG): muscle + side, in microvolts."""

from __future__ import annotations

#: temporalis anterior, masseter, digastric anterior, sternocleidomastoid; right / left
EMG_LABELS: tuple[str, ...] = ("TA_R", "TA_L", "MM_R", "MM_L", "DA_R", "DA_L", "SCM_R", "SCM_L")

#: the one unit the EMG streams are stored in after scaling (XDF-friendly ASCII spelling of µV)
EMG_UNIT = "uV"
