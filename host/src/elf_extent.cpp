// See elf_extent.hpp.
#include "elf_extent.hpp"

#include <elf.h>

#include <cstring>
#include <fstream>
#include <limits>

namespace genplug::host {

namespace {
// offset + size <= file, without overflow.
bool within(uint64_t offset, uint64_t size, uint64_t file) { return offset <= file && size <= file - offset; }
}  // namespace

std::string elf_truncation(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  const uintmax_t file = std::filesystem::file_size(path, ec);
  Elf64_Ehdr header{};
  if (!in || ec || !in.read(reinterpret_cast<char*>(&header), sizeof header)) return "";
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64) return "";
  const std::string size_text = " of a " + std::to_string(file) + "-byte file (an interrupted copy or install?)";
  if (header.e_phentsize != sizeof(Elf64_Phdr) ||
      !within(header.e_phoff, uint64_t(header.e_phnum) * sizeof(Elf64_Phdr), file))
    return "truncated or damaged: its program headers lie past the end" + size_text;
  for (unsigned i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr segment{};
    in.seekg(std::streamoff(header.e_phoff + uint64_t(i) * sizeof segment));
    if (!in.read(reinterpret_cast<char*>(&segment), sizeof segment)) return "truncated: its program headers cannot be read";
    if (segment.p_type == PT_LOAD && !within(segment.p_offset, segment.p_filesz, file))
      return "truncated: its segment " + std::to_string(i) + " ends at byte " +
             std::to_string(segment.p_offset + segment.p_filesz) + size_text;
  }
  return "";
}

}  // namespace genplug::host
