#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine (with the .NET 10 SDK) lacks to build and test gputel,
# then restores and builds. Safe to run again: each step checks first and skips what is done.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "setup: need root (or sudo) to run: $*" >&2; exit 1
  fi
}

# Debian packages: a real Prometheus server and promtool for the integration tests, gcc for the
# fake NVML driver the tests load in place of a GPU, headless Chromium to render `gputel report`'s page,
# buildah and podman to build deploy/container's image and run it (runc as well: crun refuses
# machines that mount cgroup v1 and v2 side by side; the image's chart font from fonts-dejavu-core).
packages=(prometheus gcc libc6-dev chromium buildah podman runc fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  # The prometheus package would start its own service where systemd runs; tests start their own
  # servers on free loopback ports, so a running service does not get in their way.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages present: ${packages[*]}"
fi

# TorchSharp 0.107's native library (profiler-hooks) was built with GCC 15 and needs GLIBCXX_3.4.32;
# Debian 12 ships libstdc++ 12 (GLIBCXX_3.4.30) and the load then fails with a misleading message.
# Take libstdc++6 alone from Debian 13 at low priority, only where the check fails.
# (awk reads to the end: leaving early would kill ldconfig with SIGPIPE, fatal under pipefail.)
libstdcxx=$(ldconfig -p | awk '/libstdc\+\+\.so\.6 .*x86-64/ && !found {print $NF; found = 1}')
if [ -n "$libstdcxx" ] && ! grep -q GLIBCXX_3.4.32 "$libstdcxx"; then
  # On the mirror apt already uses (a proxy, a local mirror, a snapshot), not a host of our choosing.
  if [ -n "${DEBIAN_MIRROR:-}" ]; then mirror=$DEBIAN_MIRROR
  elif ! mirror=$(tools/debian-mirror.sh); then
    mirror=http://deb.debian.org/debian
    say "no Debian mirror found in /etc/apt (see above); using $mirror (set DEBIAN_MIRROR to choose)"
  fi
  say "installing libstdc++6 from Debian 13 on $mirror (TorchSharp needs GLIBCXX_3.4.32; $libstdcxx lacks it)"
  echo "deb $mirror trixie main" | as_root tee /etc/apt/sources.list.d/trixie.list >/dev/null
  printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' | as_root tee /etc/apt/preferences.d/trixie >/dev/null
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t trixie libstdc++6 >/dev/null
else
  say "libstdc++ has GLIBCXX_3.4.32"
fi

command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK is required (dotnet not on PATH)" >&2; exit 1; }

# Kubernetes and prometheus-operator schemas for the deploy/ manifest tests (npm, into
# tests/k8s-schema/node_modules; Node.js ships with the machine image, Debian's otherwise).
command -v npm >/dev/null || { say "installing Debian packages: nodejs npm"; as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
if [ "$(cd tests/k8s-schema && node -p "require('./package.json').dependencies['kubernetes-models'] === require('./node_modules/kubernetes-models/package.json').version" 2>/dev/null)" != true ]; then
  say "installing the Kubernetes schemas for the manifest tests (tests/k8s-schema)"
  (cd tests/k8s-schema && npm install --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null)
else
  say "Kubernetes schemas present (tests/k8s-schema)"
fi

say "building the fake NVML driver (tests/fake-nvml)"
bash tests/fake-nvml/build.sh >/dev/null

say "restoring and building Telemetry.sln (Release)"
dotnet restore Telemetry.sln --nologo -v quiet
dotnet build Telemetry.sln -c Release --no-restore --nologo -v quiet -clp:ErrorsOnly

say "done. Run ./test.sh"
