#!/bin/sh
# Builds the fake CUDA driver: tests/fake-cuda/build.sh [OUTDIR]  (default tests/fake-cuda/out).
# Prints the directory holding libcuda.so.1 (for LD_LIBRARY_PATH); rebuilds only when the source
# is newer than the library.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out}
lib=$out/libcuda.so.1

mkdir -p "$out"
if [ ! -e "$lib" ] || [ "$here/fake_cuda.c" -nt "$lib" ]; then
    # Built beside the target and renamed, so a concurrent reader never sees a half-written file.
    ${CC:-gcc} -std=c11 -Wall -Wextra -Werror -O2 -fPIC -shared \
        -Wl,-soname,libcuda.so.1 -o "$lib.tmp.$$" "$here/fake_cuda.c"
    mv -f "$lib.tmp.$$" "$lib"
fi
cd "$out" && pwd
