#!/usr/bin/env bash
# Builds the agent, the benchmarks and the fake NVML driver in Release, then runs the five
# benchmark modes (see README.md), saving each one's output under bench/results/<UTC time>/.
#   bench/run.sh           full run: BenchmarkDotNet's default job, 5000 GETs, 60 s of CPU, 10 profiler block pairs (sampled and exact CPU peaks)
#   bench/run.sh --quick   smoke run: BenchmarkDotNet's short job, 500 GETs, 10 s of CPU, 3 profiler block pairs (rough numbers)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

micro_job=() requests=5000 seconds=60 blocks=10
if [ "${1:-}" = --quick ]; then
    micro_job=(--job short) requests=500 seconds=10 blocks=3
elif [ $# -gt 0 ]; then
    echo "usage: bench/run.sh [--quick]" >&2
    exit 2
fi

out=bench/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"

tests/fake-nvml/build.sh >/dev/null
dotnet build -c Release -nologo -v q agent/Gputel.Agent.csproj
dotnet build -c Release -nologo -v q bench/Gputel.Bench/Gputel.Bench.csproj

bench=(dotnet bench/Gputel.Bench/bin/Release/net10.0/Gputel.Bench.dll)
# BenchmarkDotNet looks for the benchmark project under the working folder (the checkout's root here).
"${bench[@]}" micro --filter '*' "${micro_job[@]}" --artifacts "$out/micro" | tee "$out/micro.txt"
"${bench[@]}" scrape --requests "$requests" | tee "$out/scrape.md"
"${bench[@]}" cpu --seconds "$seconds" | tee "$out/cpu.md"
# The steady state (bench/README.md), with sampled CPU peaks (the default) and then exact ones,
# each in a process of its own: the allocator set-up is made once per process.
DOTNET_TieredCompilation=0 "${bench[@]}" profiler --blocks "$blocks" | tee "$out/profiler.md"
DOTNET_TieredCompilation=0 "${bench[@]}" profiler --blocks "$blocks" --exact-cpu-peaks | tee "$out/profiler-exact.md"
"${bench[@]}" report | tee "$out/report.md"
echo "results in $out"
