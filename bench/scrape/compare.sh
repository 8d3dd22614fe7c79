#!/usr/bin/env bash
# Scrape cost of the agent beside a bare prometheus-net server with the same series, in one run.
#   bench/scrape/compare.sh [SECONDS] [CONNECTIONS...]    (default 10 s each at 4, 64 and 256 connections)
# Starts the agent on 8 fake GPUs x 32 processes (bench/load/common.sh; GPUS and PROCS_PER_GPU
# change that), saves one of its scrapes, serves exactly those series from a bare prometheus-net
# server (bench/scrape/BareServer), checks that both expose the same series, then runs wrk against
# each in turn at every connection count (which goes first alternates) and prints a Markdown table:
# req/s, p50 and p99 latency, CPU per scrape (utime + stime from /proc/PID/stat over the wrk run,
# divided by the requests) and the agent's req/s over the bare server's. Exits 1 on any failed
# request or a series mismatch.
set -euo pipefail
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk (Debian package 'wrk')" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed: apt-get install curl" >&2; exit 1; }
seconds=${1:-10}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "SECONDS must be a whole number of seconds, got '$seconds'" >&2; exit 2; }
shift $(($# > 0 ? 1 : 0))
connections=("$@")
[ ${#connections[@]} -gt 0 ] || connections=(4 64 256)
for c in "${connections[@]}"; do
    [[ $c =~ ^[1-9][0-9]*$ ]] || { echo "CONNECTIONS must be whole numbers, got '$c'" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")" && pwd)
source "$here/../load/common.sh"

# The agent-only build (the agent without libtorch, which /metrics does not need) unless
# AGENT_BIN names another, e.g. an older build to compare.
export AGENT_BIN=${AGENT_BIN:-$root/agent/bin/agent-only/Release/net10.0}
bare_dll=$here/BareServer/bin/Release/net10.0/Gputel.Bench.BareServer.dll
if [ ! -f "$AGENT_BIN/gputel.dll" ]; then
    dotnet build "$root/agent" -c Release -p:AgentOnly=true -nologo -v q >&2
fi
if [ ! -f "$bare_dll" ]; then
    dotnet build "$here/BareServer" -c Release -nologo -v q >&2
fi

start_agent
sleep 5 # every collector has run a few times
curl -fsS "$agent_url/metrics" > "$work/agent.prom"
cp -r "$(dirname "$bare_dll")" "$work/bare-bin"
dotnet "$work/bare-bin/Gputel.Bench.BareServer.dll" "$work/agent.prom" > "$work/bare.log" 2>&1 &
bare_pid=$!
extra_pids+=("$bare_pid")
bare_url=
for _ in $(seq 1 300); do
    bare_url=$(grep -o 'listening on http://[^ ,]*' "$work/bare.log" | head -1 | cut -d' ' -f3 || true)
    [ -n "$bare_url" ] && break
    kill -0 "$bare_pid" 2>/dev/null || { cat "$work/bare.log" >&2; exit 1; }
    sleep 0.1
done
[ -n "$bare_url" ] || { echo "the bare server did not start listening" >&2; cat "$work/bare.log" >&2; exit 1; }

# The same series: every name and label set, compared without the values.
series() { curl -fsS "$1/metrics" | grep -v '^#' | grep -v '^$' | sed 's/ [^ ]*$//' | sort; }
series "$agent_url" > "$work/agent.series"
series "$bare_url" > "$work/bare.series"
if ! diff -q "$work/agent.series" "$work/bare.series" >/dev/null; then
    echo "the agent and the bare server expose different series:" >&2
    diff "$work/agent.series" "$work/bare.series" | head -20 >&2
    exit 1
fi
count=$(wc -l < "$work/agent.series")

ticks_per_second=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
failures=0

# run NAME PID URL CONNECTIONS: one wrk run; sets req_s, p50, p99, cpu_ms.
run() {
    local name=$1 pid=$2 url=$3 c=$4 threads before after requests non2xx socket
    threads=$(( c < $(nproc) ? c : $(nproc) ))
    before=$(cpu_ticks "$pid")
    wrk -t"$threads" -c"$c" -d"${seconds}s" --timeout 10s --latency "$url/metrics" > "$work/wrk-$name-$c.txt"
    after=$(cpu_ticks "$pid")
    requests=$(awk '/requests in/ {print $1}' "$work/wrk-$name-$c.txt")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$work/wrk-$name-$c.txt")
    socket=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' "$work/wrk-$name-$c.txt")
    if [ "${non2xx:-0}" -ne 0 ] || [ "${socket:-0}" -ne 0 ]; then
        echo "$name at $c connections: ${non2xx:-0} non-2xx responses, ${socket:-0} socket errors" >&2
        failures=$((failures + 1))
    fi
    req_s=$(awk '/Requests\/sec/ {print $2}' "$work/wrk-$name-$c.txt")
    p50=$(awk '$1 == "50%" {print $2}' "$work/wrk-$name-$c.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$work/wrk-$name-$c.txt")
    cpu_ms=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v n="$requests" 'BEGIN {printf "%.3f", (n > 0) ? t * 1000 / hz / n : 0}')
}

# Warm-up: JIT, connection pools, the agent's first renders.
for target in "$agent_url" "$bare_url"; do
    wrk -t2 -c16 -d3s "$target/metrics" > /dev/null
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rows=()
i=0
for c in "${connections[@]}"; do
    if [ $((i % 2)) -eq 0 ]; then
        run agent "$agent_pid" "$agent_url" "$c"; a=("$req_s" "$p50" "$p99" "$cpu_ms")
        run bare "$bare_pid" "$bare_url" "$c"; b=("$req_s" "$p50" "$p99" "$cpu_ms")
    else
        run bare "$bare_pid" "$bare_url" "$c"; b=("$req_s" "$p50" "$p99" "$cpu_ms")
        run agent "$agent_pid" "$agent_url" "$c"; a=("$req_s" "$p50" "$p99" "$cpu_ms")
    fi
    ratio=$(awk -v a="${a[0]}" -v b="${b[0]}" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}')
    met=$(awk -v r="$ratio" 'BEGIN {print (r >= 0.8) ? "yes" : "no"}')
    rows+=("| $c | ${a[0]} | ${b[0]} | $ratio | $met | ${a[1]} / ${a[2]} | ${b[1]} / ${b[2]} | ${a[3]} | ${b[3]} |")
    i=$((i + 1))
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
kill -0 "$agent_pid" 2>/dev/null || { echo "the agent died under load" >&2; exit 1; }

cat <<MD
machine: $(machine); date: $(date -u +%Y-%m-%dT%H:%MZ)
load: wrk, up to $(nproc) threads, $seconds s per run, GET /metrics; $gpus GPUs x $procs_per_gpu processes, $count series on each server, $(wc -c < "$work/agent.prom") bytes a body
load average (1, 5, 15 min) before: $load_before; after: $load_after

| connections | agent req/s | bare req/s | agent/bare | >= 0.8x | agent p50 / p99 | bare p50 / p99 | agent CPU ms/scrape | bare CPU ms/scrape |
| ---: | ---: | ---: | ---: | :---: | ---: | ---: | ---: | ---: |
MD
printf '%s\n' "${rows[@]}"
[ "$failures" -eq 0 ]
