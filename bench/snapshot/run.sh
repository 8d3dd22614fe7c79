#!/usr/bin/env bash
# Times `gputel report` on PyTorch memory snapshots: the 3 MB real one of
# ../shared/reference/pytorch-snapshots and a synthetic one of SIZE_MB (default 200), R runs each
# (default 3), wall and CPU time and peak resident memory from GNU time. Needs python3 (to write the
# synthetic snapshot) and a Release build (./setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${1:-200} runs=${2:-3}
gputel=agent/bin/Release/net10.0/gputel.dll
[ -f "$gputel" ] || { echo "build first: dotnet build Telemetry.sln -c Release" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs GNU time (Debian package 'time')" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp ../shared/reference/pytorch-snapshots/transformer-lm-adamw-fullstep.pickle "$work/real.pickle"
python3 bench/snapshot/make-snapshot.py "$work/synthetic.pickle" "$size"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
for f in real synthetic; do
  echo "$f.pickle: $(du -h "$work/$f.pickle" | cut -f1)"
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "  %e s wall, %U s user + %S s system, %M KiB max resident" dotnet "$gputel" report "$work/$f.pickle" --out "$work/out-$f" >/dev/null
  done
done
