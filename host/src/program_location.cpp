#include "program_location.hpp"

#include <boost/dll/runtime_symbol_info.hpp>

namespace genplug::host {

// Read once: the program does not move while it runs, and a batch's checks ask for each work item (the default
// OCIO config beside the program).
std::filesystem::path program_directory() {
  static const std::filesystem::path dir = [] {
    try {
      return std::filesystem::path(boost::dll::program_location().parent_path().string());
    } catch (...) {
      return std::filesystem::path();
    }
  }();
  return dir;
}

}  // namespace genplug::host
