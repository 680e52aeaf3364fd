// Whether a shared library's file holds every byte its loadable segments name, checked before dlopen: the loader
// maps a segment by its offset and size, so a file cut short (an interrupted copy or install) maps pages past its
// end, and the first touch of one kills the whole process with SIGBUS.
#pragma once
#include <filesystem>
#include <string>

namespace genplug::host {

// "" when `path` is not a 64-bit ELF file (the loader judges it and says why) or holds all of its program headers
// and PT_LOAD segments; else why not, e.g. "truncated: its segment 2 ends at byte 61440 of a 20000-byte file".
std::string elf_truncation(const std::filesystem::path& path);

}  // namespace genplug::host
