#!/usr/bin/env bash
# Fuzzes one parser with AFL++ through SharpFuzz:  fuzz/run.sh TARGET SECONDS
# TARGET: safetensors | runrecord | config | webconfig (see README.md). Builds the harness, copies
# it to fuzz/.work/TARGET/bin, instruments the parsers' assembly (and YamlDotNet) with the
# sharpfuzz tool, runs afl-fuzz for SECONDS, then replays every crash in-process to print its
# stack trace. Findings stay in fuzz/.work/TARGET/findings (ignored by git).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
target=${1:-}
seconds=${2:-}
case "$target" in safetensors|runrecord|config|webconfig) ;; *) echo "usage: fuzz/run.sh safetensors|runrecord|config|webconfig SECONDS" >&2; exit 2 ;; esac
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: fuzz/run.sh $target SECONDS" >&2; exit 2; }
command -v afl-fuzz >/dev/null || { echo "afl-fuzz is not installed: apt-get install afl++ (Debian package 'afl++')" >&2; exit 1; }

cd "$here"
dotnet tool restore >/dev/null
dotnet build Harness/Gputel.Fuzz.csproj -c Release --nologo -v quiet -clp:ErrorsOnly
work=$here/.work/$target
rm -rf "$work/bin"
mkdir -p "$work"
cp -r Harness/bin/Release/net10.0 "$work/bin"
for dll in Gputel.Fuzz.Targets.dll YamlDotNet.dll; do
    dotnet tool run sharpfuzz "$work/bin/$dll" >/dev/null
done

# dotnet itself is not instrumented (SharpFuzz reports coverage through the shared memory itself);
# a shared machine has no core_pattern or CPU governor to tune.
export AFL_SKIP_BIN_CHECK=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1
rm -rf "$work/findings"
afl-fuzz -i "seeds/$target" -o "$work/findings" -V "$seconds" -t 10000 -m none \
    -- dotnet "$work/bin/Gputel.Fuzz.dll" "$target" > "$work/afl.log" 2>&1 || { tail -30 "$work/afl.log" >&2; exit 1; }

# afl-fuzz ends the harness with a signal, so its scratch folder stays; remove those of dead processes.
for d in /dev/shm/gputel-fuzz-* "${TMPDIR:-/tmp}"/gputel-fuzz-*; do
    [ -d "$d" ] && ! kill -0 "${d##*-}" 2>/dev/null && rm -rf "$d"
done

stats=$work/findings/default/fuzzer_stats
stat() { awk -F' *: *' -v k="$1" '$1 == k {print $2}' "$stats"; }
echo "$target: $(stat execs_done) executions in $(stat run_time) s ($(stat execs_per_sec)/s), corpus $(stat corpus_count), crashes $(stat saved_crashes), hangs $(stat saved_hangs)"
crashes=("$work"/findings/default/crashes/id*)
if [ -e "${crashes[0]}" ]; then
    dotnet "$work/bin/Gputel.Fuzz.dll" "$target" --replay "${crashes[@]}" || true
    exit 1
fi
