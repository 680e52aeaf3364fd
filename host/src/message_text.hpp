// Numbers and values as the pipeline's messages write them.
#pragma once
#include <cmath>
#include <sstream>
#include <string>

namespace genplug::host {

// Exactly: every digit a double needs to read back the same (a sigma a scheduler asked for).
inline std::string number_text(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

// A number as a person writes it (0.1, not 0.10000000000000001).
inline std::string short_number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// A count and its noun, "1 plugin", "3 failures": plural but for one (nouns whose plural adds an s).
inline std::string counted(unsigned long long n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// A value that is not finite: "NaN", "inf" or "-inf".
inline std::string non_finite_name(double v) { return std::isnan(v) ? "NaN" : v < 0 ? "-inf" : "inf"; }

}  // namespace genplug::host
