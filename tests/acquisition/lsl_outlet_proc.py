"""An LSL outlet in its own process: `python lsl_outlet_proc.py NAME RATE CHANNELS SECONDS`.

Channel 0 is a sample counter (so the recorder can prove completeness), the others a ramp. Prints 'ready' once
the outlet exists, then pushes in real time (chunks of 10 ms) for SECONDS, then prints 'done N'.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from acquisition.lslenv import local_clock, pylsl


def main() -> None:
    name, rate, channels, seconds = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    info = pylsl.StreamInfo(name, "EMG", channels, rate, pylsl.cf_float32, f"sim-{name}")
    chans = info.desc().append_child("channels")
    for i in range(channels):
        ch = chans.append_child("channel")
        ch.append_child_value("label", "counter" if i == 0 else f"ch{i}")
        ch.append_child_value("unit", "count" if i == 0 else "uV")
    outlet = pylsl.StreamOutlet(info, 0, 360)
    print("ready", flush=True)
    # wait for the consumer so the count starts at 0 for it
    t_wait = time.monotonic()
    while not outlet.wait_for_consumers(0.1) and time.monotonic() - t_wait < 20:
        pass
    total = int(rate * seconds)
    k = 0
    t0 = local_clock()
    while k < total:
        due = min(total, int((local_clock() - t0) * rate) + 1)
        if due > k:
            idx = np.arange(k, due)
            block = np.empty((due - k, channels), dtype=np.float32)
            block[:, 0] = idx
            block[:, 1:] = (idx % 1000)[:, None]
            outlet.push_chunk(block, (t0 + idx / rate).tolist())
            k = due
        time.sleep(0.01)
    print(f"done {k}", flush=True)
    time.sleep(1.0)


if __name__ == "__main__":
    main()
