#!/usr/bin/env bash
# Fine-tuning on a GPU host with the host's PyTorch as libtorch (README.md here), for a host with the
# NVIDIA driver, Python with PyTorch (CUDA) and pynvml, and no .NET. Run from a checkout that carries
# the archive bench/gpu-host/pack-finetune.sh makes:
#   bench/gpu-host/finetune.sh [ARCHIVE] [MODELS...]
#     ARCHIVE  default .device/gputel-gpu.tar.xz
#     MODELS   default qwen2.5-0.5b qwen2-1.5b (each with full, freeze and LoRA, bf16); "none"
#              for the pre-flight and the tiny runs only
# Writes $OUT/finetune-gpu.md (or stdout without $OUT), the run records with their reports under
# $OUT/runs, and each command's output under $OUT/logs. Every step goes on after a failure, so one
# call gives every answer there is: the pre-flight (symbols, bind-now), a tiny CUDA run with checks,
# then the matrix.
set -uo pipefail
cd "$(dirname "$0")/../.."
here=bench/gpu-host
archive=${1:-.device/gputel-gpu.tar.xz}
shift || true
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(qwen2.5-0.5b qwen2-1.5b)
[ "${models[*]}" = none ] && models=()
out=${OUT:-$(mktemp -d)}
report=$( [ -n "${OUT:-}" ] && echo "$out/finetune-gpu.md" || echo /dev/stdout )
mkdir -p "$out/runs" "$out/logs"
work=$(mktemp -d)
# The device tool stops a command at 10 minutes: runs start only before this deadline, and the
# summary is written however the script ends.
deadline=$(( $(date +%s) + ${GPUTEL_DEADLINE_S:-480} ))
finish() {
  if [ -d "$out/runs" ]; then
    say; say "## Peaks by category (MiB), next to NVML's figure for the process"; say
    python3 "$here/summarize_runs.py" "$out/runs" >> "$report" 2>&1
    # The records' bulky parts stay behind: the tables and the Markdown reports say what they do.
    find "$out/runs" \( -name report.html -o -name samples.jsonl \) -size +2M -delete 2>/dev/null
  fi
  rm -rf "$work"
}
trap finish EXIT

say() { echo "$@" >> "$report"; }

tar -C "$work" -xJf "$archive" || { say "cannot unpack $archive"; exit 1; }
app=$work/gputel
torchlib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$torchlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Without ICU (slim images), .NET would refuse to start; the runs here tokenize nothing.
python3 -c 'import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library("icuuc") else 1)' || export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1

{
  echo "# Fine-tuning on a GPU host, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo '```'
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda, "at", torch.__file__)'
  (. /etc/os-release && echo "$PRETTY_NAME")
  echo '```'
} > "$report"

# The C++ library this host's PyTorch loads: GCC 13's (GLIBCXX_3.4.32) takes TorchSharp's native
# library as built; an older one takes the rewritten variant with its one missing function preloaded.
# Asked of the loader with this script's LD_LIBRARY_PATH, as gputel will load it (a conda Python may
# load a newer one of its own); Python's answer where there is no ldd.
libstdcxx=$(ldd "$app/libLibTorchSharp.so" 2>/dev/null | awk '/libstdc\+\+/ {print $3; exit}')
[ -n "$libstdcxx" ] || libstdcxx=$(python3 -c 'import torch; print(next(l.split()[-1] for l in open("/proc/self/maps") if "libstdc++" in l))' 2>/dev/null)
if [ -n "$libstdcxx" ] && grep -q GLIBCXX_3.4.32 "$libstdcxx"; then
  say "- libstdc++: $libstdcxx has GLIBCXX_3.4.32; TorchSharp's native library as built"
else
  cp "$app/gcc12/libLibTorchSharp.so" "$app/libLibTorchSharp.so"
  export LD_PRELOAD="$app/gcc12/libgputel-iosinit.so${LD_PRELOAD:+:$LD_PRELOAD}"
  say "- libstdc++: ${libstdcxx:-not found} lacks GLIBCXX_3.4.32; TorchSharp's native library rewritten by libstdcxx_compat.py, iosinit preloaded"
fi

# Pre-flight 1: every symbol TorchSharp's native library imports, against this torch/lib's exports.
python3 "$here/elf_symbols.py" "$app/libLibTorchSharp.so" "$torchlib" > "$out/logs/symbols.txt"
say "- symbols: $(head -1 "$out/logs/symbols.txt")"
if [ "$(wc -l < "$out/logs/symbols.txt")" -gt 1 ]; then
  say "  first missing (all in logs/symbols.txt):"
  tail -n +2 "$out/logs/symbols.txt" | head -25 | sed 's/^/    /' >> "$report"
fi

# Runs one fine-tune with the NVML watcher beside it, then reports it. NAME ARGS...
run() {
  local name=$1; shift
  local dir=$out/runs/$name
  if [ "$(date +%s)" -ge "$deadline" ]; then
    say "- \`$name\`: not run (past the deadline; run it in another call)"
    return 1
  fi
  python3 "$here/nvml_watch.py" "$work/$name.nvml.json" & local watcher=$!
  local start=$(date +%s.%N)
  # SIGTERM asks gputel to stop after the step in progress; a process stuck in CUDA gets SIGKILL.
  timeout -k 15 150 "$app/gputel" finetune --out "$dir" "$@" > "$out/logs/$name.txt" 2>&1
  local rc=$?
  local seconds=$(python3 -c "import time; print(round(time.time() - $start, 1))")
  kill -TERM $watcher 2>/dev/null; wait $watcher 2>/dev/null
  [ -d "$dir" ] && cp "$work/$name.nvml.json" "$dir/nvml.json" 2>/dev/null
  [ -f "$dir/run.json" ] && timeout -k 5 60 "$app/gputel" report "$dir" >> "$out/logs/$name.txt" 2>&1
  say "- \`$name\` (finetune $*): exit $rc after $seconds s"
  if [ $rc -ne 0 ]; then
    say '  ```'; tail -15 "$out/logs/$name.txt" | cut -c1-400 | sed 's/^/  /' >> "$report"; say '  ```'
  fi
  return $rc
}

# Pre-flight 2: every symbol bound at load (LD_BIND_NOW), where a missing one fails at once.
LD_BIND_NOW=1 run tiny-bind-now --device cuda --model tiny --method full --steps 2
# A tiny run with the checks of the CPU tests, fp32 and bf16; then LoRA.
run tiny-full-fp32 --device cuda --model tiny --method full --steps 5
run tiny-full-bf16 --device cuda --model tiny --method full --dtype bf16 --steps 5
run tiny-lora --device cuda --model tiny --method lora --steps 5

for model in "${models[@]}"; do
  run "$model-full" --device cuda --model "$model" --method full --dtype bf16 --steps 4 --cutoff-len 512
  run "$model-freeze" --device cuda --model "$model" --method freeze --trainable-layers 2 --dtype bf16 --steps 4 --cutoff-len 512
  run "$model-lora" --device cuda --model "$model" --method lora --lora-rank 16 --dtype bf16 --steps 4 --cutoff-len 512
done
exit 0
