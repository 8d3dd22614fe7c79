#!/usr/bin/env bash
# Estimate error per category against every measured run this repository can produce or holds:
# the real CPU fine-tunes of EstimatorAccuracyTests (each a `gputel finetune` process beside a
# `gputel estimate --device cpu` one) and the real PyTorch CUDA snapshot of
# ../shared/reference/pytorch-snapshots (EstimateAgainstSnapshotTests: the shape read from the
# snapshot, estimated, compared with `gputel report`'s replay). Prints one Markdown table:
# case, category, measured, estimated, error. Needs a Release build (./setup.sh, then
# `dotnet build Telemetry.sln -c Release`) and python3. Takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
# The tests print each comparison through xUnit's output; the detailed console logger shows it.
dotnet test tests/Gputel.Agent.Tests -c Release --no-build --nologo --filter "FullyQualifiedName~EstimatorAccuracyTests" \
  --logger "console;verbosity=detailed" >"$work/cpu.log" 2>&1 || echo "some CPU cases failed (their rows are still shown): see the test log" >&2
dotnet test tests/Gputel.Core.Tests -c Release --no-build --nologo --filter "FullyQualifiedName~EstimateAgainstSnapshotTests" \
  --logger "console;verbosity=detailed" >"$work/snapshot.log" 2>&1 || echo "the snapshot comparison failed: see the test log" >&2
python3 - "$work/cpu.log" "$work/snapshot.log" <<'PY'
import re, sys
cpu, snap = (open(p, encoding="utf-8", errors="replace").read() for p in sys.argv[1:3])
rows = []
case = None
for line in cpu.splitlines():
    m = re.search(r"(\S+ \S+ checkpointing=\S+ \S+ b=\d+ s=\d+ accumulation=\d+): measured peak ([\d.]+) MiB in (\S+), estimated ([\d.]+) MiB in (\S+)", line)
    if m:
        case = m.group(1).replace(" checkpointing=True", ", checkpointing").replace(" checkpointing=False", "").replace(" accumulation=1", "")
        rows.append((case, f"**peak** ({m.group(3)} / {m.group(5)})", float(m.group(2)), float(m.group(4))))
        continue
    m = re.search(r"^\s*(\w+)\s+measured\s+([\d.]+)\s+estimated\s+([\d.]+) MiB", line)
    if m and case and m.group(1) != "unattributed":
        rows.append((case, m.group(1), float(m.group(2)), float(m.group(3))))
for line in snap.splitlines():
    m = re.search(r"^\s*(.+?)\s+estimated\s+([\d.]+) MiB\s+measured\s+([\d.]+) MiB", line)
    if m:
        rows.append(("CUDA snapshot: CS336 2.7B LM, fp32 full, AdamW, b4 x 128", m.group(1).strip(), float(m.group(3)), float(m.group(2))))
print("| case | category | measured MiB | estimated MiB | error |")
print("| --- | --- | ---: | ---: | ---: |")
seen = set()
for case, cat, meas, est in rows:
    if (case, cat) in seen or (meas == 0 and est == 0):
        continue
    seen.add((case, cat))
    err = "n/a" if meas == 0 else f"{100 * (est - meas) / meas:+.1f} %"
    print(f"| {case} | {cat} | {meas:,.2f} | {est:,.2f} | {err} |")
if not rows:
    sys.exit("no comparison found in the test output")
PY
