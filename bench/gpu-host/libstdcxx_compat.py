#!/usr/bin/env python3
"""Lets TorchSharp's native library load with the libstdc++ of GCC 12 (Ubuntu 22.04, Debian 12):

    libstdcxx_compat.py LIBRARY

libLibTorchSharp.so 0.107 was linked with GCC 13, whose <iostream> ties every object to the symbol
std::ios_base_library_init at version GLIBCXX_3.4.32, which older libstdc++ lacks: the dynamic
loader then refuses the whole library. The symbol only asks libstdc++ to set up the standard streams,
which the libtorch of a PyTorch install (built with an older GCC) sets up anyway. This rewrites
LIBRARY in place: the GLIBCXX_3.4.32 requirement becomes weak (the loader lets a weak one pass) and
the symbol's own version reference is cleared, so any library defining it satisfies it: preload
iosinit.cc's (LD_PRELOAD). Checked on Debian 12's libstdc++ 12.2: unpatched, "version
`GLIBCXX_3.4.32' not found"; patched with the shim preloaded, a CPU fine-tune runs.
"""
import struct
import sys

import elf64

VER_FLG_WEAK = 0x2
VERSION = "GLIBCXX_3.4.32"
SYMBOL = "_ZSt21ios_base_library_initv"


def main(path):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    sections = elf64.sections(data)
    if sections is None:
        sys.exit(f"{path}: not a little-endian ELF64 file")
    by_type = {s[elf64.TYPE]: s for s in sections}
    if not all(t in by_type for t in (elf64.SHT_DYNSYM, elf64.SHT_GNU_VERNEED, elf64.SHT_GNU_VERSYM)):
        sys.exit(f"{path}: no symbol versions")

    def string(table, offset):
        return elf64.string(data, sections[table], offset)

    # The requirement: Elf64_Verneed entries, each with its Elf64_Vernaux list.
    verneed = by_type[elf64.SHT_GNU_VERNEED]
    offset, weakened = verneed[elf64.OFFSET], False
    for _ in range(verneed[elf64.INFO]):
        _, count, _, aux, following = struct.unpack_from("<HHIII", data, offset)
        entry = offset + aux
        for _ in range(count):
            _, flags, _, name, step = struct.unpack_from("<IHHII", data, entry)
            if string(verneed[elf64.LINK], name) == VERSION:
                struct.pack_into("<H", data, entry + 4, flags | VER_FLG_WEAK)
                weakened = True
            entry += step
        offset += following

    # The symbol's version: its .gnu.version slot, 1 meaning unversioned (global).
    dynsym, versym = by_type[elf64.SHT_DYNSYM], by_type[elf64.SHT_GNU_VERSYM]
    cleared = False
    for index in range(dynsym[elf64.SIZE] // 24):
        name, = struct.unpack_from("<I", data, dynsym[elf64.OFFSET] + index * 24)
        if string(dynsym[elf64.LINK], name) == SYMBOL:
            struct.pack_into("<H", data, versym[elf64.OFFSET] + index * 2, 1)
            cleared = True

    if not (weakened and cleared):
        sys.exit(f"{path}: requires no {VERSION} through {SYMBOL}; left as it was")
    with open(path, "wb") as f:
        f.write(data)
    print(f"{path}: {VERSION} weak, {SYMBOL} unversioned")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
