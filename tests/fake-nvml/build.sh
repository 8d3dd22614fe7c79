#!/bin/sh
# Builds the fake NVML driver: tests/fake-nvml/build.sh [OUTDIR]  (default tests/fake-nvml/out).
# Prints the library's path; rebuilds only when a source is newer than the library.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out}
lib=$out/libnvidia-ml.so.1

mkdir -p "$out"
if [ ! -e "$lib" ] || [ "$here/fake_nvml.c" -nt "$lib" ] || [ "$here/fake_nvml_types.h" -nt "$lib" ]; then
    # Build beside the target and rename, so a concurrent reader never sees a half-written file.
    ${CC:-gcc} -std=c11 -Wall -Wextra -Werror -O2 -fPIC -shared -pthread \
        -Wl,-soname,libnvidia-ml.so.1 -o "$lib.tmp.$$" "$here/fake_nvml.c"
    mv -f "$lib.tmp.$$" "$lib"
fi
# The unversioned name too, for loaders that ask for "nvidia-ml" (e.g. .NET's DllImport probing).
ln -sf libnvidia-ml.so.1 "$out/libnvidia-ml.so"
echo "$(cd "$out" && pwd)/libnvidia-ml.so.1"
