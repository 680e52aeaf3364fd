// See cli_options.hpp.
#include <genplug/host/printable.hpp>
#include "cli_options.hpp"

#include <fstream>
#include <iostream>
#include <iterator>

namespace genplug::cli {

using host::ErrorKind;
using host::HostError;

nlohmann::json json_object_option(const std::string& option, const std::string& value) {
  std::string text = value;
  std::string where = option;
  if (!value.empty() && value[0] == '@') {
    std::ifstream in(value.substr(1));
    if (!in) throw HostError(ErrorKind::usage, option + ": cannot read '" + value.substr(1) + "'");
    text.assign(std::istreambuf_iterator<char>(in), {});
    where = option + " " + value;
  }
  // Nesting limited as the text is parsed, as in manifests: validating, copying or printing a value nested
  // 100000 deep overflowed the stack (genplug posenc --config @deep.json: segfault).
  constexpr int kMaxDepth = 64;
  bool too_deep = false;
  const auto limit_depth = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start || event == nlohmann::json::parse_event_t::array_start) &&
        depth > kMaxDepth)
      too_deep = true;
    return !too_deep;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text, limit_depth);
  } catch (const nlohmann::json::exception& e) {
    throw HostError(ErrorKind::usage, where + ": not valid JSON: " + e.what());
  }
  if (too_deep) throw HostError(ErrorKind::usage, where + ": nested deeper than " + std::to_string(kMaxDepth) + " levels");
  if (!j.is_object()) throw HostError(ErrorKind::usage, where + ": expected a JSON object, got " + j.dump());
  return j;
}

void log_to_stderr(CallContext& ctx, const Globals& globals) {
  const bool quiet = globals.quiet;
  ctx.on_log([quiet](int32_t severity, const std::string& m) {
    if (severity >= GENPLUG_LOG_WARNING && (!quiet || severity >= GENPLUG_LOG_ERROR))
      std::cerr << (severity >= GENPLUG_LOG_ERROR ? "error: " : "warning: ") << host::printable(m) << "\n";
  });
}

}  // namespace genplug::cli
