// PathResolver (host/src/resolved_path.hpp) gives resolved_path()'s answer for every spelling of a file the
// manifest checks meet: relative, with "." and "..", through a linked folder, a link to a file, a folder that
// does not exist yet, and the names it hands back to resolved_path() (".", "..").
#define BOOST_TEST_MODULE path_resolver
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "resolved_path.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using genplug::host::PathResolver;
using genplug::host::resolved_path;

namespace {

// Runs the body with the working directory set to `dir`, restored after.
struct InDirectory {
  fs::path before = fs::current_path();
  explicit InDirectory(const fs::path& dir) { fs::current_path(dir); }
  ~InDirectory() { fs::current_path(before); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(every_spelling_resolves_as_resolved_path_does) {
  genplug::test::TempDir dir("path-resolver");
  fs::create_directories(dir.path / "renders" / "shot");
  std::ofstream(dir.path / "renders" / "plate.png") << "x";
  fs::create_directory_symlink(dir.path / "renders", dir.path / "linked");
  fs::create_symlink(dir.path / "renders" / "plate.png", dir.path / "renders" / "plate-link.png");
  InDirectory here(dir.path);

  const std::vector<fs::path> spellings = {
      "renders/a.exr",         "./renders/a.exr",        "renders/shot/../a.exr", "linked/a.exr",
      "linked/shot/b.exr",     "renders/plate.png",      "renders/plate-link.png", "linked/plate-link.png",
      "missing/deeper/c.exr",  "missing/../renders/a.exr", "a.exr",              dir.path / "linked" / "d.exr",
      "renders/.",             "renders/..",             "renders/shot/",
  };
  PathResolver resolved;
  for (const fs::path& p : spellings) {
    BOOST_TEST_CONTEXT(p) { BOOST_TEST(resolved(p) == resolved_path(p)); }
  }
  // Asked again (folders cached): the same.
  for (const fs::path& p : spellings) {
    BOOST_TEST_CONTEXT(p) { BOOST_TEST(resolved(p) == resolved_path(p)); }
  }
  // The spellings of one file meet; a link to a file is the file.
  BOOST_TEST(resolved("linked/a.exr") == resolved("renders/shot/../a.exr"));
  BOOST_TEST(resolved("renders/plate-link.png") == resolved_path(dir.path / "renders" / "plate.png"));
}
