// A double as error messages print it: the shortest text that reads back as the same value (0.6, not
// 0.59999999999999998 as %.17g writes it).
#pragma once

#include <charconv>
#include <string>

namespace genplug::flowmatch {

inline std::string number_text(double v) {
  char buf[32];  // the longest shortest form of a double is 24 characters (-2.2250738585072014e-308)
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  return std::string(buf, end);
}

}  // namespace genplug::flowmatch
