#!/usr/bin/env python3
"""Markdown tables of fine-tunes recorded on a GPU host, for docs/BENCHMARKS.md:

    summarize_runs.py RUNS_DIR

Each RUNS_DIR/NAME holds a run record that `gputel report` has summarised (summary.json) and,
where the watcher ran, nvml.json (nvml_watch.py). For each run: the peak step and phase, the
categories at that peak, the allocator's total and the measured peak, NVML's figure for the process
(gputel's own samples, 200 ms apart, and the independent watcher's, 5 ms apart), and the estimate.
Then the checks the tiny run must pass: weights equal parameters x dtype size, and categories add up
to the allocator's total (unattributed within 5 % of the peak from step 2 on).
"""
import json
import os
import sys

MiB = 1024 * 1024
CATEGORIES = ["weights", "gradients", "optimizer_state", "activations", "temporary", "inputs", "allocator_cache", "runtime", "unattributed"]
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


def mib(value):
    return "-" if value is None else f"{value / MiB:,.1f}"


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main(root):
    names = sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)))
    print("| run | peak at | " + " | ".join(CATEGORIES) + " | allocator peak | NVML process, gputel samples | NVML process, watcher | estimate |")
    print("|---|---|" + "---|" * len(CATEGORIES) + "---|---|---|---|")
    checks, ended = [], []
    for name in names:
        d = os.path.join(root, name)
        summary = load(os.path.join(d, "summary.json"))
        if summary is None or summary.get("peak") is None:
            print(f"| {name} | no summary (see the log) |" + " |" * (len(CATEGORIES) + 4))
            continue
        peak = summary["peak"]
        if summary.get("status") != "complete":
            ended.append(f"{name}: {summary.get('status')}: {summary.get('status_detail')}")
        watched = watched_process(load(os.path.join(d, "nvml.json")), load(os.path.join(d, "run.json")))
        estimate = (summary.get("estimate") or {}).get("peak_bytes")
        print(f"| {name} | step {peak['step']} {peak['phase']} | " + " | ".join(mib(peak["bytes"].get(c)) for c in CATEGORIES)
              + f" | {mib(peak['peak_bytes'])} | {mib(summary['samples'].get('max_process_bytes'))} | {mib(watched)} | {mib(estimate)} |")
        if name.startswith("tiny"):
            checks.extend(check_tiny(d, summary))
    for line in ([""] if checks or ended else []) + [f"- {c}" for c in checks + ended]:
        print(line)


def watched_process(watch, run):
    """The watcher's highest figure for the run's process, on the run's GPU (by UUID): by process id,
    or, where NVML's ids are not the process's own (a container's PID namespace), the GPU's only
    process. None where neither can be told."""
    if not watch or not run:
        return None
    uuid = run.get("versions", {}).get("gpu_uuid")
    gpus = [g for g in watch["gpus"] if g.get("uuid") == uuid] if uuid else watch["gpus"]
    if len(gpus) != 1:
        return None
    processes = gpus[0]["process_used_max"]
    pid = str((run.get("process") or {}).get("pid", ""))
    if pid in processes:
        return processes[pid]
    return next(iter(processes.values())) if len(processes) == 1 else None


def check_tiny(d, summary):
    run = load(os.path.join(d, "run.json"))
    lines = [json.loads(l) for l in open(os.path.join(d, "steps.jsonl")) if l.strip()]
    out = []
    if run and run["method"] == "full":
        params = int(run["settings"]["trainable_parameters"])
        expected = params * DTYPE_BYTES[run["dtype"]]
        got = lines[-1]["bytes"]["weights"]
        out.append(f"{'PASS' if got == expected else 'FAIL'} {os.path.basename(d)}: weights {got:,} B, parameters x dtype size {expected:,} B")
    worst = max((abs(l["bytes"]["unattributed"]) / max(l["peak_bytes"], 1) for l in lines if l["step"] >= 2), default=None)
    if worst is not None:
        out.append(f"{'PASS' if worst < 0.05 else 'FAIL'} {os.path.basename(d)}: largest |unattributed| from step 2 on is {worst:.2%} of the phase's peak (limit 5 %)")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
