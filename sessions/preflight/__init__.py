"""Pre-flight gates: what must hold before a visit's first step (docs/preflight.md).

    inputs = collect_inputs(settings, sources=opened, scanners=[scanner], expected=rig_devices,
                            steps=planned_steps(protocol.for_visit(code)))   # reads a few seconds of each device
    report = run_preflight(inputs, settings=settings)                      # pure: inputs in, verdicts out
    record_preflight(session, report)                                      # -> /qc/preflight
    if report.blocking: ... override_gate(session, report, "plate_unloaded", reason, operator)

Modules: `result` (GateResult, PreflightReport), `devices` (devices, production), `calibrations`, `signals`
(EMG rest noise, plate unloaded, LSL clock), `disk`, `runner` (PreflightInputs, run_preflight), `live` (taking the
inputs from opened sources), `record` (the visit file).
"""

from sessions.preflight.calibrations import RequiredCalibration, calibration_serials, check_calibrations
from sessions.preflight.devices import (ExpectedDevice, FoundDevice, check_devices, check_production,
                                        found_devices)
from sessions.preflight.disk import estimate_visit_bytes, visit_duration_s
from sessions.preflight.live import collect_inputs
from sessions.preflight.record import PREFLIGHT_QC, override_gate, read_preflight, record_preflight
from sessions.preflight.result import (GATES, GateOverride, GateResult, GateStatus, PreflightError,
                                       PreflightReport)
from sessions.preflight.runner import PlannedStep, PreflightInputs, planned_steps, run_preflight
from sessions.preflight.signals import (PlateSample, TimeCorrections, check_emg_rest, check_lsl_clock,
                                        check_plate_unloaded)

__all__ = [
    "GATES", "PREFLIGHT_QC", "ExpectedDevice", "FoundDevice", "GateOverride", "GateResult", "GateStatus",
    "PlannedStep", "PlateSample", "PreflightError", "PreflightInputs", "PreflightReport", "RequiredCalibration",
    "TimeCorrections", "calibration_serials", "check_calibrations", "check_devices", "check_emg_rest",
    "check_lsl_clock", "check_plate_unloaded", "check_production", "collect_inputs", "estimate_visit_bytes",
    "found_devices", "override_gate", "planned_steps", "read_preflight", "record_preflight", "run_preflight",
    "visit_duration_s",
]
