// One spelling per file, for telling whether two paths name the same file: absolute, with links resolved as far
// as the path exists (so "a/../b.exr", "./b.exr" and a link to it are one file), lexically normal beyond that.
#pragma once
#include <filesystem>
#include <system_error>

namespace genplug::host {

inline std::filesystem::path resolved_path(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::path r = std::filesystem::weakly_canonical(std::filesystem::absolute(p), ec);
  return ec ? std::filesystem::absolute(p).lexically_normal() : r;
}

}  // namespace genplug::host
