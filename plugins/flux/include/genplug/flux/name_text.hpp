// Name and path tests shared by the FLUX plugin's libraries (C++17 strings have no starts_with / ends_with).
#pragma once
#include <string>

namespace genplug::flux {

inline bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace genplug::flux
