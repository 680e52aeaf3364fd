// What a shared library's file tells before dlopen, which runs its constructors and maps its segments:
// - whether it holds every byte its loadable segments name: the loader maps a segment by its offset and size, so a
//   file cut short (an interrupted copy or install) maps pages past its end, and the first touch of one kills the
//   whole process with SIGBUS;
// - whether it defines a given dynamic symbol, and as what: a folder scan then leaves a library that is no plugin
//   unloaded, so that a search path naming a system folder runs none of its libraries' constructors, and a plugin
//   whose entry is no object is refused before any of its code runs.
// Only the file named is read, not the libraries it needs, and not against a file that changes before the load.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace genplug::host {

// Why `path` cannot hold its segments ("truncated: its segment 1 needs 124713 bytes from byte 12288 of a
// 20000-byte file ..."); "" when it holds them all, and for any file the loader refuses before it maps anything
// (no ELF, another class, byte order or file type, an unexpected program-header size or count): the loader then
// says why itself.
std::string elf_truncation(const std::filesystem::path& path);

// A dynamic symbol as the file defines it.
struct ElfSymbol {
  bool defined = false;
  unsigned type = 0;  // STT_OBJECT, STT_FUNC, STT_GNU_IFUNC, STT_TLS, ...
  uint64_t size = 0;  // st_size: 0 where the assembler gave none
};

// `name` in `path`'s dynamic symbol table (.dynsym, found through the section headers): its first definition there (of
// several versions, the first listed, which need not be the default one dlsym binds), or defined = false. nullopt when
// that cannot be told (no ELF the loader would map, no section headers, a table out of bounds or over 64 MiB): the
// loader then decides.
std::optional<ElfSymbol> elf_dynamic_symbol(const std::filesystem::path& path, const std::string& name);

}  // namespace genplug::host
