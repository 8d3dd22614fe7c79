#!/usr/bin/env python3
"""The pre-flight of bench/gpu-host/README.md (step 1) without binutils (GPU hosts often have none):

    elf_symbols.py LIBRARY DIR...

lists the dynamic symbols LIBRARY requires (global, not weak, imports) that no shared library in the DIRs (nor the C and C++
runtime it also links) exports, as `nm -D --undefined-only` against the DIRs' `nm -D --defined-only`
would. Prints a summary line, then the missing names (mangled; pipe through c++filt where there is
one). Exit status 0 when nothing is missing, 1 when something is.
"""
import glob
import os
import struct
import sys

import elf64


def dynamic_symbols(path):
    """(exported, required) dynamic symbol names of an ELF64 little-endian shared library."""
    with open(path, "rb") as f:
        data = f.read()
    headers = elf64.sections(data)
    defined, undefined = set(), set()
    for s in headers or []:
        if s[elf64.TYPE] != elf64.SHT_DYNSYM:
            continue
        strtab = headers[s[elf64.LINK]]
        for offset in range(s[elf64.OFFSET] + 24, s[elf64.OFFSET] + s[elf64.SIZE], 24):  # entry 0 is the null symbol
            name_off, info, _, shndx = struct.unpack_from("<IBBH", data, offset)
            binding = info >> 4
            # Exports global or weak; imports only global: a weak import may stay unresolved.
            if binding not in (1, 2) or (shndx == 0 and binding != 1):
                continue
            (undefined if shndx == 0 else defined).add(elf64.string(data, strtab, name_off))
    return defined, undefined


def main(library, directories):
    _, wanted = dynamic_symbols(library)
    offered = set()
    files = 0
    for directory in directories:
        for path in glob.glob(os.path.join(directory, "*.so*")):
            if os.path.isfile(path):
                files += 1
                offered |= dynamic_symbols(path)[0]
    # The system's C and C++ runtimes, which the library links besides libtorch.
    for runtime in ("libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2"):
        for directory in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64"):
            path = os.path.join(directory, runtime)
            if os.path.isfile(path):
                offered |= dynamic_symbols(path)[0]
                break
    missing = sorted(wanted - offered)
    print(f"{os.path.basename(library)} imports {len(wanted)} symbols; {len(wanted) - len(missing)} found in {files} libraries; {len(missing)} missing")
    for name in missing:
        print(name)
    return 1 if missing else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
