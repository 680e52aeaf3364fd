// genplug CLI — what every command reads the same way: JSON-object options (text or @FILE), plugin creation
// from a command-line config, and plugin log lines on stderr.
#pragma once
#include <cstdint>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include <genplug/host.hpp>
#include <genplug/internal/regular_file.hpp>

#include "command.hpp"

namespace genplug::cli {

// The JSON object given to `option` as text, or read from a file with @FILE. HostError(usage) naming the option
// when the text is not JSON or not an object.
nlohmann::json json_object_option(const std::string& option, const std::string& value);

// A check for a number option: text strtod reads whole, finite and in [lo, hi], else "must be <what>, got '<text>'".
// CLI11 alone reads '' as 0 and lets nan through.
CLI::Validator number_in(double lo, double hi, const std::string& what);

// A transform for a whole-number option: decimal digits (with a sign) only, read as decimal, from `least` to
// `most` (both within the option's type, which long double holds exactly), else "must be M or more", "must be at
// most N" or "must be from M to N". CLI11 alone reads '010' as octal 8 and '0x10' as 16, and '' as 0, saturates a
// uint64_t at 2^64 - 1, wraps -1 into one and says only "Could not convert" for a value its type cannot hold;
// here '010' is 10, and '0x10', '', '1e3', -1 for a count and 2^32 for a uint32_t are refused.
CLI::Validator decimal_integer(long double least, long double most);
// decimal_integer() over the whole range of the type of an option read into `target`.
template <class T> CLI::Validator decimal_integer_for(const T& /*target*/) {
  return decimal_integer(std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max());
}

// Sends a plugin's warnings and errors to stderr (errors only with --quiet).
void log_to_stderr(CallContext& ctx, const Globals& globals);

// A tool command's plugin call that failed: a count or size the plugin refuses came from the command line (exit
// 2), out of memory is retryable (75, as in run), anything else the plugin's (4).
inline host::ErrorKind tool_call_error_kind(genplug_status code) {
  return code == GENPLUG_E_INVALID_ARGUMENT ? host::ErrorKind::usage
         : code == GENPLUG_E_OUT_OF_MEMORY ? host::ErrorKind::retryable
                                           : host::ErrorKind::plugin;
}

// The exit code of a file a command-line option names that cannot be read: a usage error when it is the file's
// fault, 5 for the process's descriptor limit (ulimit -n), 75 for a system short of open files or memory.
inline host::ErrorKind unreadable_option_file_kind(const genplug::internal::UnreadableFile& e) {
  using Cause = genplug::internal::UnreadableFile::Cause;
  return e.cause() == Cause::descriptor_limit ? host::ErrorKind::runtime
         : e.cause() == Cause::shortage       ? host::ErrorKind::retryable
                                              : host::ErrorKind::usage;
}

// Runs a catalog create_*(): a config the schema or the plugin rejects is a usage error here (exit 2), not a
// manifest one.
template <class F>
auto create_from_option(F&& create) -> decltype(create()) {
  try {
    return create();
  } catch (const host::HostError& e) {
    throw host::HostError(e.kind() == host::ErrorKind::manifest ? host::ErrorKind::usage : e.kind(), e.what());
  }
}

}  // namespace genplug::cli
