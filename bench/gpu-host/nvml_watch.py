#!/usr/bin/env python3
"""Watches GPU memory with pynvml, independently of gputel, until SIGTERM or SIGINT:

    nvml_watch.py OUTFILE [INTERVAL_S]      (default every 0.005 s)

On exit writes JSON to OUTFILE: per GPU (index and UUID), the highest device used memory and, per
process id NVML reports, the highest used memory seen, with the number of samples taken and the
NVML errors met (a query that fails, as some do under MIG or in containers, is counted and skipped).
"""
import json
import signal
import sys
import time

import pynvml

stop = False


def _stop(*_):
    global stop
    stop = True


def main(path, interval):
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    pynvml.nvmlInit()
    handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    uuids = []
    for h in handles:
        uuid = pynvml.nvmlDeviceGetUUID(h)
        uuids.append(uuid.decode() if isinstance(uuid, bytes) else uuid)
    device_max = [0] * len(handles)
    process_max = [{} for _ in handles]
    samples = errors = 0
    while not stop:
        for i, h in enumerate(handles):
            try:
                device_max[i] = max(device_max[i], pynvml.nvmlDeviceGetMemoryInfo(h).used)
                for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h):
                    if p.usedGpuMemory is not None:
                        process_max[i][str(p.pid)] = max(process_max[i].get(str(p.pid), 0), p.usedGpuMemory)
            except pynvml.NVMLError:
                errors += 1
        samples += 1
        time.sleep(interval)
    with open(path, "w") as f:
        json.dump({"samples": samples, "interval_s": interval, "errors": errors,
                   "gpus": [{"index": i, "uuid": uuids[i], "device_used_max": device_max[i], "process_used_max": process_max[i]}
                            for i in range(len(handles))]}, f)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) == 3 else 0.005)
