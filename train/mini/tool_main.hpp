// What the mini model's programs (trainer, evaluation, measurements) share at their edges: CLI11 parsing whose
// errors exit 2 like every other usage error (CLI11's own codes are 105-115), checks for numeric flags, and a
// main() guard that turns any exception into one line `<program>: <message>` and exit 1 (runtime) or 2 (usage)
// instead of std::terminate and a libtorch backtrace. Header-only: the programs link CLI11; no libtorch here.
#pragma once
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <unistd.h>

#include <CLI/CLI.hpp>

namespace genplug::mini {

// A bad flag or argument found after parsing: exit 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses; returns -1 to go on, else the exit code: 0 after --help, 2 after a usage error (CLI11 has printed it).
inline int parse_or_exit(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
}

// c10::Error's what() carries the C++ backtrace after this line; the message before it is what a user needs.
inline std::string without_backtrace(const std::string& message) {
  const std::size_t cut = message.find("\nException raised from");
  return cut == std::string::npos ? message : message.substr(0, cut);
}

// Runs `body` (returns the exit code); any exception becomes `<program>: <message>` on stderr and exit 2
// (UsageError) or 1.
template <class Body>
int guarded_main(const char* program, Body&& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, without_backtrace(e.what()).c_str());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "%s: unknown error\n", program);
    return 1;
  }
}

namespace cli_checks {

// The number in `text`, or an error message; std::stod reads "nan" and "inf" as CLI11 does.
inline std::string read_number(const std::string& text, double& value) {
  try {
    std::size_t used = 0;
    value = std::stod(text, &used);
    return used == text.size() ? std::string() : "'" + text + "' is not a number";
  } catch (const std::exception&) {
    return "'" + text + "' is not a number";
  }
}

// A validator for numbers that are finite and at least `low` (above it where `strict`).
inline CLI::Validator finite_from(double low, bool strict, const std::string& name) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double value = 0;
        if (std::string error = read_number(text, value); !error.empty()) return error;
        if (!std::isfinite(value)) return "must be a finite number, not " + text;
        if (strict ? !(value > low) : !(value >= low)) return "must be " + name + ", not " + text;
        return std::string();
      },
      name);
}

}  // namespace cli_checks

// Finite numbers (CLI::Range and CLI::PositiveNumber let nan through: every comparison with it is false).
inline const CLI::Validator kFinite = cli_checks::finite_from(-HUGE_VAL, false, "FINITE");
inline const CLI::Validator kPositiveFinite = cli_checks::finite_from(0.0, true, "> 0");
inline const CLI::Validator kNonNegativeFinite = cli_checks::finite_from(0.0, false, ">= 0");

// At least 1 (an integer flag: counts, threads, steps, batches).
inline const CLI::Validator kAtLeastOne(
    [](std::string& text) -> std::string {
      try {
        std::size_t used = 0;
        const long long value = std::stoll(text, &used);
        if (used != text.size()) return "'" + text + "' is not an integer";
        return value >= 1 ? std::string() : "must be at least 1, not " + text;
      } catch (const std::exception&) {
        return "'" + text + "' is not an integer";
      }
    },
    ">= 1");

// Refuses a negative number for an unsigned option: CLI11 (2.1) reads it with strtoull, which wraps "-1" to
// 2^64 - 1.
inline const CLI::Validator kNotNegative(
    [](std::string& text) -> std::string {
      return !text.empty() && text[0] == '-' ? "must not be negative, not " + text : std::string();
    },
    ">= 0");

// The folder a program writes into (created later if missing): not a file, and its nearest existing folder
// writable. Throws UsageError naming `flag`.
inline void check_output_folder(const std::filesystem::path& folder, const std::string& flag) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (folder.empty()) throw UsageError(flag + ": empty path");
  if (fs::exists(folder, ec) && !fs::is_directory(folder, ec))
    throw UsageError(flag + " " + folder.string() + ": exists and is not a folder");
  fs::path existing = fs::absolute(folder, ec).lexically_normal();
  while (!existing.empty() && !fs::exists(existing, ec)) {
    if (existing == existing.parent_path()) break;
    existing = existing.parent_path();
  }
  if (!fs::is_directory(existing, ec))
    throw UsageError(flag + " " + folder.string() + ": " + existing.string() + " is not a folder");
  if (::access(existing.c_str(), W_OK | X_OK) != 0)
    throw UsageError(flag + " " + folder.string() + ": cannot write in " + existing.string());
}

}  // namespace genplug::mini
