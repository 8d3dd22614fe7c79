# Shared by load.sh and soak.sh: an 8-GPU fake node and a running agent on it.
# Sourced, not run. Sets: root, work, agent_pid, agent_url; defines rss_kib and cleanup (which also
# ends the pids a script adds to extra_pids).

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
gpus=${GPUS:-8}
procs_per_gpu=${PROCS_PER_GPU:-32}
work=$(mktemp -d /tmp/gputel-load-XXXXXX)
sleepers=()
extra_pids=()

cleanup() {
    set +e
    if [ -n "${agent_pid:-}" ]; then kill "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null; fi
    for p in "${extra_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    for p in "${sleepers[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap "exit 143" TERM INT

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

start_agent() {
    # AGENT_BIN: another build of the agent, e.g. the agent-only one (bin/agent-only/Release/net10.0).
    local bin=${AGENT_BIN:-$root/agent/bin/Release/net10.0}
    [ -f "$bin/gputel.dll" ] || { echo "build first: dotnet build Telemetry.sln -c Release" >&2; exit 1; }
    local lib
    lib=$("$root/tests/fake-nvml/build.sh")
    # A private copy of the build: a rebuild during a long run must not rewrite the files it runs from.
    cp -r "$bin" "$work/bin"

    # Real, idle processes stand in for training processes: the agent reads /proc/PID of each.
    for _ in $(seq 1 $((gpus * procs_per_gpu))); do
        sleep 100000 & sleepers+=($!)
    done
    {
        echo "driver_version 560.35.03"
        echo "nvml_version 12.560.35.03"
        for g in $(seq 0 $((gpus - 1))); do
            cat <<GPU
gpu $g
name NVIDIA H100 80GB HBM3
uuid GPU-$(printf %08x "$g")-0000-4000-8000-000000000000
pci_bus_id 00000000:$(printf %02X $((0x18 + 16 * g))):00.0
minor $g
memory_total 85899345920
memory_reserved 536870912
memory_timeline 0:42949672960 50:64424509440
memory_timeline_period 100
utilization 87 45
power_mw 550000
power_limit_mw 700000
energy_mj 1000000000
temperature 61
clock graphics 1980
clock sm 1980
clock mem 2619
clock video 1545
throttle_reasons 0x1
pcie_tx_kbs 1200000
pcie_rx_kbs 3400000
ecc corrected volatile 3
ecc uncorrected volatile 0
ecc corrected aggregate 12
ecc uncorrected aggregate 0
memory_temperature 70
pcie_replay 0
nvlink_links 18
nvlink_kib_per_s tx 1000
nvlink_kib_per_s rx 2000
GPU
            for p in "${sleepers[@]:$((g * procs_per_gpu)):$procs_per_gpu}"; do
                echo "process compute $p 2147483648"
            done
        done
    } > "$work/node.nvml"

    FAKE_NVML_SCRIPT=$work/node.nvml dotnet "$work/bin/gputel.dll" agent --listen 127.0.0.1:0 \
        --nvml-library "$lib" "$@" > "$work/agent.log" 2>&1 &
    agent_pid=$!
    for _ in $(seq 1 300); do
        agent_url=$(grep -o 'listening on http://[^ ,]*' "$work/agent.log" | head -1 | cut -d' ' -f3 || true)
        [ -n "$agent_url" ] && break
        kill -0 "$agent_pid" 2>/dev/null || { cat "$work/agent.log" >&2; exit 1; }
        sleep 0.1
    done
    [ -n "$agent_url" ] || { echo "the agent did not start listening" >&2; cat "$work/agent.log" >&2; exit 1; }
    local found
    found=$(curl -fsS "$agent_url/metrics" | grep -c '^gpu_up{')
    [ "$found" -eq "$gpus" ] || { echo "expected $gpus GPUs, the agent reports $found" >&2; exit 1; }
}

machine() {
    echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME"), .NET $(dotnet --list-runtimes | awk '/NETCore.App/ {v=$2} END {print v}')"
}
