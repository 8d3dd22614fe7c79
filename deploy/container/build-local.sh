#!/bin/sh
# Builds the agent's image from deploy/container/Dockerfile without pulling anything: for builders
# that cannot reach mcr.microsoft.com (air-gapped sites, the tests). The base is made FROM scratch
# out of this machine's own glibc and C++ runtime, and the agent is a publish made beforehand.
#
#   dotnet publish agent -c Release -r linux-x64 --self-contained -p:AgentOnly=true \
#       -p:PublishSingleFile=true -p:DebugType=none -o publish/gputel
#   deploy/container/build-local.sh publish/gputel [TAG]        # TAG default localhost/gputel:local
#
# BUILDER is the build command (default: "buildah build", "podman build" or "docker build", the
# first found), e.g. BUILDER="buildah --storage-driver vfs build". The base carries what `ldd`
# lists for the binary, libssl and libcrypto where present (OTLP over https), the CA bundle, and an
# /etc/passwd naming the image's user; the image runs on hosts with this glibc or a newer one.
# The publish's native libraries and two DejaVu fonts go in with the agent, as the Dockerfile wants.
set -eu

publish=${1:?usage: build-local.sh PUBLISH_DIR [TAG]}
tag=${2:-localhost/gputel:local}
binary=$publish/gputel
[ -x "$binary" ] || { echo "build-local: $binary is not an executable (publish the agent first: see the top of this script)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${BUILDER:-}" ]; then
  for b in buildah podman docker; do
    command -v "$b" >/dev/null && { BUILDER="$b build"; break; }
  done
  [ -n "${BUILDER:-}" ] || { echo "build-local: no buildah, podman or docker found (Debian: apt-get install buildah podman)" >&2; exit 2; }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/base

# Merged /usr as on Debian and Ubuntu: every library goes under usr/, /lib and /lib64 link there.
mkdir -p "$root/usr/lib" "$root/usr/lib64" "$root/etc/ssl/certs" "$root/tmp"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
chmod 1777 "$root/tmp"
copy_lib() { # PATH: the file it resolves to, under the name the loader asks for
  case $1 in
    /usr/*) dest=$root$1 ;;
    *) dest=$root/usr$1 ;;
  esac
  mkdir -p "$(dirname "$dest")"
  cp -L "$1" "$dest"
}
libs=$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
[ -n "$libs" ] || { echo "build-local: ldd lists no libraries for $binary (not a dynamically linked Linux binary?)" >&2; exit 1; }
for lib in $libs; do copy_lib "$lib"; done
# .NET opens libssl at run time (no ldd entry); without it only plain-http OTLP works.
for name in libssl.so.3 libcrypto.so.3; do
  lib=$(ldconfig -p | awk -v n="$name" '$1 == n && /x86-64|AArch64/ {print $NF; exit}')
  [ -n "$lib" ] && copy_lib "$lib"
done
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
fi
# Names for the image's numeric user (1654, the "app" user of the .NET images) and root.
printf 'root:x:0:0:root:/root:/sbin/nologin\napp:x:1654:1654:app:/home/app:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\napp:x:1654:\n' > "$root/etc/group"
printf 'FROM scratch\nCOPY . /\n' > "$work/Containerfile"
$BUILDER -f "$work/Containerfile" -t localhost/gputel-base:local "$root"

mkdir -p "$work/agent/out" "$work/agent/fonts"
cp "$binary" "$publish"/*.so "$work/agent/out/"
# The fonts the Dockerfile's final stage takes for `gputel report`'s chart (Debian: fonts-dejavu-core).
fonts=/usr/share/fonts/truetype/dejavu
for font in DejaVuSans.ttf DejaVuSans-Bold.ttf; do
  [ -f "$fonts/$font" ] || { echo "build-local: $fonts/$font not found (Debian and Ubuntu: apt-get install fonts-dejavu-core)" >&2; exit 2; }
  cp "$fonts/$font" "$work/agent/fonts/"
done
printf 'FROM scratch\nCOPY out/ /out/\nCOPY fonts/ %s/\n' "$fonts" > "$work/agent.Containerfile"
$BUILDER -f "$work/agent.Containerfile" -t localhost/gputel-publish:local "$work/agent"

# Only the final stage is built; the context is empty, as that stage copies nothing from it.
mkdir -p "$work/context"
$BUILDER -f "$here/Dockerfile" --build-arg RUNTIME_BASE=localhost/gputel-base:local \
  --build-arg AGENT=localhost/gputel-publish:local -t "$tag" "$work/context"
echo "build-local: built $tag"
