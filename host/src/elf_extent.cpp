// See elf_extent.hpp.
#include "elf_extent.hpp"

#include <elf.h>

#include <cstring>
#include <fstream>

namespace genplug::host {

namespace {

// offset + size <= file, without overflow.
bool within(uint64_t offset, uint64_t size, uint64_t file) { return offset <= file && size <= file - offset; }

// What this process's loader maps: a 64-bit little-endian shared object or executable with the program-header
// layout of <elf.h>. Anything else it refuses with its own message before mapping a byte.
bool loader_would_map(const Elf64_Ehdr& h) {
  return std::memcmp(h.e_ident, ELFMAG, SELFMAG) == 0 && h.e_ident[EI_CLASS] == ELFCLASS64 &&
         h.e_ident[EI_DATA] == ELFDATA2LSB && (h.e_type == ET_DYN || h.e_type == ET_EXEC) &&
         h.e_phentsize == sizeof(Elf64_Phdr) && h.e_phnum > 0 && h.e_phnum != PN_XNUM;
}

}  // namespace

std::string elf_truncation(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  const uintmax_t file = std::filesystem::file_size(path, ec);
  Elf64_Ehdr header{};
  if (!in || ec || !in.read(reinterpret_cast<char*>(&header), sizeof header) || !loader_would_map(header)) return "";
  const std::string of_file = " of a " + std::to_string(file) + "-byte file (an interrupted copy or install?)";
  if (!within(header.e_phoff, uint64_t(header.e_phnum) * sizeof(Elf64_Phdr), file))
    return "truncated: its program headers lie past the end" + of_file;
  for (unsigned i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr segment{};
    in.seekg(std::streamoff(header.e_phoff + uint64_t(i) * sizeof segment));
    if (!in.read(reinterpret_cast<char*>(&segment), sizeof segment)) return "truncated: its program headers cannot be read";
    if (segment.p_type == PT_LOAD && !within(segment.p_offset, segment.p_filesz, file))  // no sum: it may wrap
      return "truncated: its segment " + std::to_string(i) + " needs " + std::to_string(segment.p_filesz) +
             " bytes from byte " + std::to_string(segment.p_offset) + of_file;
  }
  return "";
}

}  // namespace genplug::host
