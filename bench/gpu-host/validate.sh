#!/usr/bin/env bash
# Real-hardware validation of the agent, for a GPU host with the NVIDIA driver, nvidia-smi, Python
# with PyTorch and pynvml, and no .NET: run from a checkout that carries a self-contained publish
#   dotnet publish agent -c Release -r linux-x64 --self-contained -p:AgentOnly=true -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:DebugType=none -o publish/gputel
# Writes its findings (Markdown) to $OUT/gpu-host.md, or to stdout without $OUT.
#   bench/gpu-host/validate.sh [path/to/gputel]
set -uo pipefail
cd "$(dirname "$0")/../.."
gputel=${1:-publish/gputel/gputel}
out=${OUT:-}
report=$( [ -n "$out" ] && echo "$out/gpu-host.md" || echo /dev/stdout )
work=$(mktemp -d)
# The build that also fine-tunes (pack-finetune.sh) uses ICU, which slim images lack; the agent needs none.
python3 -c 'import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library("icuuc") else 1)' || export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
holder=
trap 'kill $holder 2>/dev/null; rm -rf "$work"' EXIT

{
  echo "# GPU host validation, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo '```'
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  echo '```'
} > "$report"

# A PyTorch process that holds a known amount of device memory while we compare.
python3 - <<'PY' > "$work/holder.out" 2>&1 &
import time, torch
x = torch.empty(3 * 1024**3, dtype=torch.uint8, device="cuda")  # 3 GiB
print("holding", flush=True)
time.sleep(120)
PY
holder=$!
for _ in $(seq 60); do grep -q holding "$work/holder.out" 2>/dev/null && break; sleep 1; done

# Side by side, within the same second: our JSON, nvidia-smi's device and process views.
"$gputel" devices --json > "$work/gputel.json"
nvidia-smi --query-gpu=index,uuid,memory.total,memory.used,memory.free,memory.reserved,utilization.gpu,power.draw,temperature.gpu,clocks.sm,clocks.mem \
  --format=csv,noheader,nounits > "$work/smi.csv"
nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv,noheader,nounits > "$work/apps.csv"

python3 bench/gpu-host/compare.py "$work/gputel.json" "$work/smi.csv" "$work/apps.csv" "$holder" >> "$report"

# Cost of one full sample: the agent (its own measurement), a pynvml loop, one nvidia-smi run.
python3 bench/gpu-host/pynvml_sample.py >> "$report"
start=$(date +%s.%N); nvidia-smi --query-gpu=index,memory.used,utilization.gpu,power.draw,temperature.gpu,clocks.sm --format=csv >/dev/null; end=$(date +%s.%N)
echo "- one \`nvidia-smi --query-gpu\` invocation: $(python3 -c "print(round(($end-$start)*1000,1))") ms" >> "$report"

# Struct layouts of the fake driver against this host's nvml.h, where a header and gcc exist.
header=$(find /usr/local/cuda*/include /usr/include "$(python3 -c 'import site;print(site.getsitepackages()[0])')" -name nvml.h 2>/dev/null | head -1)
if [ -n "$header" ] && command -v gcc >/dev/null; then
  gcc -I "$(dirname "$header")" tests/fake-nvml/layout_check.c -o "$work/real" && \
  gcc -DFAKE_LAYOUT -I tests/fake-nvml tests/fake-nvml/layout_check.c -o "$work/fake" && \
  if diff <("$work/real") <("$work/fake") > "$work/layout.diff"; then
    echo "- struct layouts: identical to $header" >> "$report"
  else
    { echo "- struct layouts DIFFER from $header:"; echo '```'; cat "$work/layout.diff"; echo '```'; } >> "$report"
  fi
else
  echo "- struct layouts: not checked (no nvml.h or no gcc on this host)" >> "$report"
fi

# GPM activity, idle then under a bf16 matmul loop, next to nvidia-smi dmon from the same run.
"$gputel" agent --listen 127.0.0.1:9446 > "$work/agent.log" 2>&1 &
agent=$!
nvidia-smi dmon -s u -d 1 -c 30 > "$work/dmon.txt" 2>&1 &
sleep 8
scrape() { curl -s 127.0.0.1:9446/metrics | grep -E '^gpu_(tensor_active|graphics_engine_active|sm_active|dram_active)_ratio\{gpu="0"' | sed 's/{[^}]*}//'; }
{ echo; echo "GPM on GPU 0, idle:"; echo '```'; scrape; echo '```'; } >> "$report"
python3 - <<'PY' &
import time, torch
a = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda"); b = torch.randn_like(a)
end = time.time() + 15
while time.time() < end:
    for _ in range(20): c = a @ b
    torch.cuda.synchronize()
PY
load=$!
sleep 8
{ echo "GPM on GPU 0, during a bf16 8192x8192 matmul loop:"; echo '```'; scrape; echo '```'; } >> "$report"
wait $load
sleep 3
kill $agent 2>/dev/null
wait
{ echo "nvidia-smi dmon -s u over the same 30 s:"; echo '```'; cat "$work/dmon.txt"; echo '```'; } >> "$report"
