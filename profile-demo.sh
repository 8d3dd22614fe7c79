#!/usr/bin/env bash
# The main job in one command: a short profiled LoRA fine-tune of the tiny model on the CPU (any
# machine, GPU or not), then its report. Builds gputel first if the build is missing or older than
# the sources. Usage: ./profile-demo.sh [RUN_DIR] (default runs/demo; replaced on each run).
set -euo pipefail
cd "$(dirname "$0")"
run=${1:-runs/demo}
gputel=agent/bin/Release/net10.0/gputel.dll

command -v dotnet >/dev/null || { echo "profile-demo: the .NET 10 SDK is required (dotnet not on PATH); see ./setup.sh" >&2; exit 1; }
if [ ! -f "$gputel" ] || [ -n "$(find agent profiler-hooks collector -name '*.cs' -newer "$gputel" -print -quit)" ]; then
  echo "profile-demo: building gputel (Release)"
  dotnet build agent/Gputel.Agent.csproj -c Release --nologo -v quiet -clp:ErrorsOnly
fi

# A run record is append-only: start from an empty directory so the report shows this run alone.
rm -rf "$run"
dotnet "$gputel" finetune --model tiny --method lora --steps 20 --out "$run"
echo
dotnet "$gputel" report "$run"
echo
echo "report: $(cd "$run" && pwd)/report.html (open it in a browser; report.md, report.png and summary.json beside it)"
