"""The few ELF64 little-endian structures the GPU-host scripts read (section headers, strings),
shared by elf_symbols.py and libstdcxx_compat.py: GPU hosts often have neither binutils nor patchelf."""
import struct

SHT_DYNSYM, SHT_GNU_VERNEED, SHT_GNU_VERSYM = 11, 0x6FFFFFFE, 0x6FFFFFFF
# Elf64_Shdr fields by index: 1 type, 4 offset, 5 size, 6 link, 7 info.
TYPE, OFFSET, SIZE, LINK, INFO = 1, 4, 5, 6, 7


def sections(data):
    """The section headers of an ELF64 little-endian file's bytes, or None for anything else."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    return [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]


def string(data, table, offset):
    """The NUL-terminated string at offset in the string table section table."""
    start = table[OFFSET] + offset
    return data[start:data.index(b"\0", start)].decode(errors="replace")
