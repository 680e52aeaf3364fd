#include "program_location.hpp"

#include <boost/dll/runtime_symbol_info.hpp>

namespace genplug::host {

std::filesystem::path program_directory() {
  try {
    return std::filesystem::path(boost::dll::program_location().parent_path().string());
  } catch (...) {
    return {};
  }
}

}  // namespace genplug::host
