// What genplug-dype-effect and genplug-dype-calibrate share at their edges: the mini programs' usage errors (exit 2,
// train/mini/tool_main.hpp) for the flags checked before any work, the flags' JSON text, and the exit status of a
// run that SIGINT or SIGTERM cancelled. Header-only: both programs link CLI11 and the host.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include <genplug/host/cancel_signals.hpp>
#include <genplug/internal/bounded_json.hpp>

#include "tool_main.hpp"  // train/mini: UsageError, parse_or_exit, kAtLeastOne, kNonNegativeFinite

namespace genplug::dype_effect {

// A plugin config given as JSON text (--model): a JSON object, or a UsageError naming the flag, so that a typo
// stops the run before --out is touched instead of ending it with nlohmann's exception text.
inline nlohmann::json json_object_flag(const std::string& flag, const std::string& text) {
  nlohmann::json j;
  std::optional<std::string> duplicate;
  try {
    j = internal::parse_bounded_json(text, duplicate);
  } catch (const nlohmann::json::exception& e) {
    throw mini::UsageError(flag + ": not valid JSON: " + internal::json_error_text(e));
  } catch (const internal::JsonTooDeep& e) {
    throw mini::UsageError(flag + ": " + e.what());
  }
  if (duplicate)  // JSON keeps the last value only, and the first was meant too
    throw mini::UsageError(flag + ": the key " + nlohmann::json(*duplicate).dump() + " appears twice in one object");
  if (!j.is_object()) throw mini::UsageError(flag + ": expected a JSON object, got " + j.dump());
  return j;
}

// 128 + the signal that cancelled the run (130 SIGINT, 143 SIGTERM), or `status` when none came.
inline int status_after_signals(int status) {
  const int signal = host::cancel_signal();
  return signal == 0 ? status : 128 + signal;
}

}  // namespace genplug::dype_effect
