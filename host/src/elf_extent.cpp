// See elf_extent.hpp.
#include "elf_extent.hpp"

#include <elf.h>

#include <cstring>
#include <fstream>
#include <vector>

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

// `count` structs of T read from `offset`; empty when they lie outside the file or cannot be read.
template <class T>
std::vector<T> read_array(std::ifstream& in, uint64_t offset, uint64_t count, uint64_t file) {
  if (count == 0 || count > (uint64_t(64) << 20) / sizeof(T) || !within(offset, count * sizeof(T), file)) return {};
  std::vector<T> out(count);
  in.clear();
  in.seekg(std::streamoff(offset));
  if (!in.read(reinterpret_cast<char*>(out.data()), std::streamsize(count * sizeof(T)))) return {};
  return out;
}

}  // namespace

std::optional<ElfSymbol> elf_dynamic_symbol(const std::filesystem::path& path, const std::string& name) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  const uintmax_t file = std::filesystem::file_size(path, ec);
  Elf64_Ehdr header{};
  if (!in || ec || !in.read(reinterpret_cast<char*>(&header), sizeof header) || !loader_would_map(header) ||
      header.e_shentsize != sizeof(Elf64_Shdr))
    return std::nullopt;
  const std::vector<Elf64_Shdr> sections = read_array<Elf64_Shdr>(in, header.e_shoff, header.e_shnum, file);
  for (const Elf64_Shdr& table : sections) {
    if (table.sh_type != SHT_DYNSYM) continue;
    if (table.sh_entsize != sizeof(Elf64_Sym) || table.sh_link >= sections.size()) return std::nullopt;
    const Elf64_Shdr& names_section = sections[table.sh_link];
    const std::vector<Elf64_Sym> symbols = read_array<Elf64_Sym>(in, table.sh_offset, table.sh_size / sizeof(Elf64_Sym), file);
    const std::vector<char> names = read_array<char>(in, names_section.sh_offset, names_section.sh_size, file);
    if (symbols.empty() || names.empty()) return std::nullopt;
    for (const Elf64_Sym& s : symbols) {
      if (s.st_shndx == SHN_UNDEF || s.st_name >= names.size()) continue;  // needed from elsewhere, or no name
      const char* at = names.data() + s.st_name;
      const size_t room = names.size() - s.st_name;
      if (name.size() < room && std::memcmp(at, name.c_str(), name.size() + 1) == 0)
        return ElfSymbol{true, static_cast<unsigned>(ELF64_ST_TYPE(s.st_info)), s.st_size};
    }
    return ElfSymbol{};
  }
  return std::nullopt;  // no .dynsym: nothing to tell
}

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
