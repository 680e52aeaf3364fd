// One spelling per file, for telling whether two paths name the same file: absolute, with links resolved as far
// as the path exists (so "a/../b.exr", "./b.exr" and a link to it are one file), lexically normal beyond that.
#pragma once
#include <filesystem>
#include <map>
#include <system_error>

namespace genplug::host {

inline std::filesystem::path resolved_path(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::path r = std::filesystem::weakly_canonical(std::filesystem::absolute(p), ec);
  return ec ? std::filesystem::absolute(p).lexically_normal() : r;
}

// resolved_path() for many files in few folders (a batch's million outputs): each folder is resolved once, and a
// file that is no link is its folder's resolution plus its name, one lstat where resolved_path() makes a few
// system calls per component and reads the working directory again. The same answers; the working directory
// is read once, at the first relative path: for one batch's checks, not across a chdir. Whatever it cannot
// stat (no working directory, a folder without search permission) goes to resolved_path() whole.
class PathResolver {
 public:
  std::filesystem::path operator()(const std::filesystem::path& p) {
    namespace fs = std::filesystem;
    const fs::path name = p.filename();
    if (name.empty() || name == "." || name == "..") return resolved_path(p);
    std::error_code ec;
    if (!p.is_absolute() && cwd_.empty()) cwd_ = fs::current_path(ec);
    if (cwd_.empty() && !p.is_absolute()) return resolved_path(p);
    const fs::path absolute = p.is_absolute() ? p : cwd_ / p;
    const fs::file_status status = fs::symlink_status(absolute, ec);
    if (fs::is_symlink(status) || (ec && status.type() != fs::file_type::not_found)) return resolved_path(p);
    const fs::path folder = absolute.parent_path();
    auto it = folders_.find(folder);
    if (it == folders_.end()) it = folders_.emplace(folder, resolved_path(folder)).first;
    return it->second / name;
  }

 private:
  std::filesystem::path cwd_;
  std::map<std::filesystem::path, std::filesystem::path> folders_;
};

}  // namespace genplug::host
