// Whether a shared library's file holds every byte its loadable segments name, checked before dlopen: the loader
// maps a segment by its offset and size, so a file cut short (an interrupted copy or install) maps pages past its
// end, and the first touch of one kills the whole process with SIGBUS. Only the file named is checked, not the
// libraries it needs, and not against a file that changes between this check and the load.
#pragma once
#include <filesystem>
#include <string>

namespace genplug::host {

// Why `path` cannot hold its segments ("truncated: its segment 1 needs 124713 bytes from byte 12288 of a
// 20000-byte file ..."); "" when it holds them all, and for any file the loader refuses before it maps anything
// (no ELF, another class, byte order or file type, an unexpected program-header size or count): the loader then
// says why itself.
std::string elf_truncation(const std::filesystem::path& path);

}  // namespace genplug::host
