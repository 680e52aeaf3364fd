// See cli_options.hpp.
#include <genplug/host/printable.hpp>
#include "cli_options.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <genplug/internal/bounded_json.hpp>
#include <genplug/internal/regular_file.hpp>

namespace genplug::cli {

using host::ErrorKind;
using host::HostError;

namespace {
// A plugin config or posenc layout is a few KB.
constexpr std::uintmax_t kMaxOptionFileBytes = std::uintmax_t(16) << 20;
}  // namespace

nlohmann::json json_object_option(const std::string& option, const std::string& value) {
  std::string text = value;
  std::string where = option;
  if (!value.empty() && value[0] == '@') {
    try {  // a FIFO is refused, not waited on; /dev/zero is not read for ever
      text = genplug::internal::read_regular_file(value.substr(1), kMaxOptionFileBytes);
    } catch (const genplug::internal::UnreadableFile& e) {
      throw HostError(unreadable_option_file_kind(e),
                      option + ": cannot read '" + value.substr(1) + "': it " + e.what());
    }
    where = option + " " + value;
  }
  // Nesting bounded while parsing, as in manifests (genplug posenc --config @deep.json segfaulted).
  nlohmann::json j;
  std::optional<std::string> duplicate;
  try {
    j = genplug::internal::parse_bounded_json(text, duplicate);
  } catch (const nlohmann::json::out_of_range& e) {  // 1e999: no double holds it
    const std::string number = genplug::internal::overflowing_number(e.what());
    throw HostError(ErrorKind::usage, where + ": a number is outside the range of a double: " + number);
  } catch (const nlohmann::json::exception& e) {
    throw HostError(ErrorKind::usage, where + ": not valid JSON: " + genplug::internal::json_error_text(e));
  } catch (const genplug::internal::JsonTooDeep& e) {
    throw HostError(ErrorKind::usage, where + ": " + e.what());
  }
  if (duplicate)  // refused, as in manifests: JSON keeps the last value only, and the first was meant too
    throw HostError(ErrorKind::usage, where + ": " + genplug::internal::duplicate_key_text(*duplicate));
  if (!j.is_object()) throw HostError(ErrorKind::usage, where + ": expected a JSON object, got " + j.dump());
  return j;
}

CLI::Validator number_in(double lo, double hi, const std::string& what) {
  return CLI::Validator(
      [lo, hi, what](std::string& v) {
        char* end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        // Decimal notation only: strtod also reads hexadecimal ("0x10": 16) and skips leading blanks.
        const bool decimal = v.find_first_not_of("0123456789.eE+-") == std::string::npos;
        const bool whole = !v.empty() && decimal && end == v.c_str() + v.size();
        return whole && std::isfinite(x) && x >= lo && x <= hi ? std::string()
                                                               : "must be " + what + ", got '" + host::printable(v) + "'";
      },
      "");
}

namespace {
// A whole number within a 64-bit integer's range, as decimal digits.
std::string whole_text(long double x) {
  return x < 0 ? std::to_string(static_cast<long long>(x)) : std::to_string(static_cast<unsigned long long>(x));
}
}  // namespace

CLI::Validator decimal_integer(long double least, long double most) {
  return CLI::Validator(
      [least, most](std::string& v) {
        const size_t sign = !v.empty() && (v[0] == '-' || v[0] == '+') ? 1 : 0;
        if (v.size() == sign || v.find_first_not_of("0123456789", sign) != std::string::npos)
          return "must be a whole number in decimal digits, got '" + host::printable(v) + "'";
        const size_t first = std::min(v.find_first_not_of('0', sign), v.size() - 1);  // "000" keeps one 0
        v = v.substr(0, sign) + v.substr(first);
        // Exact up to 2^64 (a 64-bit mantissa); longer numbers are out of every range anyway.
        const bool huge = v.size() - sign > 30;
        const long double x = huge ? (v[0] == '-' ? -1e30L : 1e30L) : std::strtold(v.c_str(), nullptr);
        if (x >= least && x <= most) return std::string();
        // A ceiling at the type's limit is not worth saying to a value below the floor.
        if (x < least && (least == 0 || most >= 4294967295.0L))
          return "must be " + whole_text(least) + " or more, got " + v;
        if (least == 0) return "must be at most " + whole_text(most) + ", got " + v;
        return "must be from " + whole_text(least) + " to " + whole_text(most) + ", got " + v;
      },
      "");
}

void log_to_stderr(CallContext& ctx, const Globals& globals) {
  const bool quiet = globals.quiet;
  ctx.on_log([quiet](int32_t severity, const std::string& m) {
    if (severity >= GENPLUG_LOG_WARNING && (!quiet || severity >= GENPLUG_LOG_ERROR))
      std::cerr << (severity >= GENPLUG_LOG_ERROR ? "error: " : "warning: ") << host::printable(m) << "\n";
  });
}

}  // namespace genplug::cli
