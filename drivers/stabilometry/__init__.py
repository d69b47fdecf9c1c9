"""Stabilometry platforms: Wii Balance Board (Linux evdev), a four-load-cell serial board, an LSL force plate.

All three produce raw cell/force values plus the centre of pressure (COP) in millimetres on the ISPGR axes
(X mediolateral, positive to the subject's right; Y anteroposterior, positive forward). See
docs/devices.md.
"""
