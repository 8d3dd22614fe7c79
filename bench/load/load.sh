#!/usr/bin/env bash
# Load test of /metrics: wrk with many connections against the agent on 8 fake GPUs.
#   bench/load/load.sh [CONNECTIONS] [SECONDS]     (default 256 connections, 60 s)
# Prints a Markdown summary: requests, errors (non-2xx and socket errors), latency percentiles,
# agent RSS before and after. Exits 1 if any request failed.
set -euo pipefail
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk (Debian package 'wrk')" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed: apt-get install curl" >&2; exit 1; }
connections=${1:-256}
seconds=${2:-60}
source "$(dirname "$0")/common.sh"
start_agent

sleep 5 # warm-up: every collector has run a few times
rss_before=$(rss_kib "$agent_pid")
threads=$(nproc)
wrk -t"$threads" -c"$connections" -d"${seconds}s" --timeout 10s --latency "$agent_url/metrics" > "$work/wrk.txt"
rss_after=$(rss_kib "$agent_pid")
cat "$work/wrk.txt" >&2

requests=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$work/wrk.txt")
socket=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' "$work/wrk.txt")
pct() { awk -v p="$1" '$1 == p {print $2}' "$work/wrk.txt"; }
kill -0 "$agent_pid" 2>/dev/null || { echo "the agent died under load" >&2; exit 1; }

cat <<MD
machine: $(machine); date: $(date -u +%Y-%m-%d)
load: wrk, $threads threads, $connections connections, $seconds s, GET /metrics, $gpus GPUs x $procs_per_gpu processes

| requests | req/s | non-2xx | socket errors | p50 | p90 | p99 | RSS before | RSS after |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| $requests | $(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt") | ${non2xx:-0} | ${socket:-0} | $(pct 50%) | $(pct 90%) | $(pct 99%) | $((rss_before / 1024)) MiB | $((rss_after / 1024)) MiB |
MD
[ "${non2xx:-0}" -eq 0 ] && [ "${socket:-0}" -eq 0 ]
