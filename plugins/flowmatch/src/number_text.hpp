// A double as error messages print it: %.17g, enough digits to read back the same value.
#pragma once

#include <cstdio>
#include <string>

namespace genplug::flowmatch {

inline std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace genplug::flowmatch
