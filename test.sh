#!/usr/bin/env bash
# Builds and runs every test (unit, golden exposition, promtool, a real Prometheus server scraping
# the agent on the fake NVML driver). Tests that cannot run here skip and print why.
set -euo pipefail
cd "$(dirname "$0")"
dotnet build Telemetry.sln -c Release --nologo -v quiet -clp:ErrorsOnly
# The deployable build (no libtorch), as the container image and GPU hosts ship it: built into its
# own bin/agent-only and run once here; AgentOnlyBuildTests then run its commands.
dotnet build agent -c Release -p:AgentOnly=true --nologo -v quiet -clp:ErrorsOnly
agent/bin/agent-only/Release/net10.0/gputel estimate --model tiny --method lora --no-probe >/dev/null
echo "test.sh: agent-only build ran 'gputel estimate'"
# The same, self-contained as the container image carries it (into agent/bin/agent-only/Release/
# net10.0/RID/publish): ContainerImageTests build deploy/container's image from it and run it.
case $(uname -m) in aarch64) rid=linux-arm64 ;; *) rid=linux-x64 ;; esac
dotnet publish agent -c Release -r "$rid" --self-contained -p:AgentOnly=true -p:PublishSingleFile=true -p:DebugType=none --nologo -v quiet -clp:ErrorsOnly
dotnet test Telemetry.sln -c Release --no-build --nologo
