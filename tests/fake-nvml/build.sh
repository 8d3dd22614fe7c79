#!/bin/sh
# Builds the fake NVML driver: tests/fake-nvml/build.sh [OUTDIR] [PROFILE]
#   OUTDIR   default tests/fake-nvml/out
#   PROFILE  full (default: every export), or a driver branch whose entry points it exports
#            (driver-branches.txt): r450 r470 r515 r520 r525 r535-early r535 r550, or
#            without-FUNCTION[+FUNCTION...]: every export but those. A profile's library is
#            OUTDIR/PROFILE/libnvidia-ml.so.1; r535-early is 535.x before 535.104, whose _v3
#            process queries write 32-byte records.
# Prints the library's path; rebuilds only when a source is newer than the library.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out}
profile=${2:-full}
flags=
hidden=
case "$profile" in
    full) branch= ;;
    without-nvml*) branch=999; hidden=$(echo "${profile#without-}" | tr '+' ' ') ;;
    r535-early) branch=535; flags=-DFAKE_PROCESS_INFO_V3_CC=1 ;;
    r[0-9][0-9][0-9]) branch=${profile#r} ;;
    *) echo "build.sh: unknown profile '$profile' (full, r450, r470, r515, r520, r525, r535-early, r535, r550, without-FUNCTION[+FUNCTION])" >&2; exit 2 ;;
esac
[ "$profile" = full ] || out=$out/$profile
lib=$out/libnvidia-ml.so.1

mkdir -p "$out"
if [ ! -e "$lib" ] || [ "$here/fake_nvml.c" -nt "$lib" ] || [ "$here/fake_nvml_types.h" -nt "$lib" ] \
    || [ "$here/driver-branches.txt" -nt "$lib" ] || [ "$0" -nt "$lib" ]; then
    # Build beside the target and rename, so a concurrent reader never sees a half-written file.
    tmp=$lib.tmp.$$
    map=
    if [ -n "$branch" ]; then
        # Every export of the source, less those the branch does not have yet; the rest stay local.
        map=$tmp.map
        sed -n 's/^[a-zA-Z_ ]*[ *]\(nvml[A-Za-z0-9_]*\)(.*/\1/p; s/^[a-z].*[ *]\(fake_nvml_[a-z_]*\)(.*/\1/p' "$here/fake_nvml.c" | sort -u > "$tmp.all"
        { awk -v b="$branch" '!/^#/ && NF >= 2 && $2 > b { print $1 }' "$here/driver-branches.txt"
          for f in $hidden; do echo "$f"; done; } | sort -u > "$tmp.later"
        { echo "{ global:"; comm -23 "$tmp.all" "$tmp.later" | sed 's/$/;/'; echo "local: *; };"; } > "$map"
        rm -f "$tmp.all" "$tmp.later"
        map="-Wl,--version-script=$map"
    fi
    # shellcheck disable=SC2086 # $flags and $map are one word or none
    ${CC:-gcc} -std=c11 -Wall -Wextra -Werror -O2 -fPIC -shared -pthread $flags $map \
        -Wl,-soname,libnvidia-ml.so.1 -o "$tmp" "$here/fake_nvml.c"
    rm -f "$tmp.map"
    mv -f "$tmp" "$lib"
fi
# The unversioned name too, for loaders that ask for "nvidia-ml" (e.g. .NET's DllImport probing).
ln -sf libnvidia-ml.so.1 "$out/libnvidia-ml.so"
echo "$(cd "$out" && pwd)/libnvidia-ml.so.1"
