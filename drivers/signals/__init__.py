"""Signal generators with known ground truth (EMG, jaw kinematics, stabilometry sway, face mesh).

These are not device simulators: they produce physical signals; the simulators in each driver package put
them behind the device's real wire protocol. Modules: ``emg.EmgGenerator``, ``jaw.JawGenerator``,
``sway.SwayGenerator``, ``face.face_mesh``; step names in ``drivers.signals.steps``; repetition timing in
``drivers.signals.schedule.task_windows``."""
