// See memory_budget.hpp.
#include <genplug/host/memory_budget.hpp>

#include <genplug/internal/cpu_memory.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>

namespace genplug::host {

std::optional<uint64_t> available_cpu_memory() { return internal::available_cpu_memory(); }
std::optional<uint64_t> total_cpu_memory() { return internal::total_cpu_memory(); }

std::string memory_text(uint64_t bytes) {
  char buf[32];
  if (bytes >= (uint64_t(1) << 30))
    std::snprintf(buf, sizeof buf, "%.1f GiB", double(bytes) / double(uint64_t(1) << 30));
  else if (bytes < (uint64_t(1) << 20))  // a limit of 1000 bytes is not "1 MiB"
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  else
    std::snprintf(buf, sizeof buf, "%.0f MiB", std::ceil(double(bytes) / double(1 << 20)));
  return buf;
}

namespace {

// The digits at text[i...], i moved past them; how many.
size_t skip_digits(const std::string& text, size_t& i) {
  const size_t from = i;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  return i - from;
}

// 1024^k for a unit "", "B", "K", "KB", "Ki", "KiB" (and M, G, T, in either case), -1 for anything else.
double unit_scale(const std::string& unit) {
  if (unit.empty() || unit == "B") return 1;
  const size_t k = std::string("KMGT").find(char(std::toupper(static_cast<unsigned char>(unit[0]))));
  const std::string rest = unit.substr(1);
  if (k == std::string::npos || !(rest.empty() || rest == "B" || rest == "i" || rest == "iB")) return -1;
  return std::pow(1024.0, double(k + 1));
}

}  // namespace

std::optional<double> parse_byte_count(const std::string& text) {
  // The number's grammar is checked first: from_chars alone takes "inf", "nan" and a leading minus. It reads
  // in no locale (strtod would take 2,5 under a comma locale and stop at 2.5's point).
  size_t i = 0, mantissa = skip_digits(text, i);
  if (i < text.size() && text[i] == '.') mantissa += skip_digits(text, ++i);
  if (mantissa == 0) return std::nullopt;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    if (++i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (skip_digits(text, i) == 0) return std::nullopt;
  }
  double number = 0;
  const auto read = std::from_chars(text.data(), text.data() + i, number);
  if (read.ec != std::errc() || read.ptr != text.data() + i) return std::nullopt;  // out of range: 1e-400, 1e400
  const bool spaced = i + 1 < text.size() && text[i] == ' ';  // one space, then a unit
  const double scale = unit_scale(text.substr(spaced ? i + 1 : i));
  if (scale < 0 || !std::isfinite(number * scale)) return std::nullopt;
  return number * scale;
}

std::optional<uint64_t> parse_memory_size(const std::string& text) {
  if (text == "off") return 0;
  const std::optional<double> bytes = parse_byte_count(text);
  // 0 is no limit of memory ("off" says that); 2^64 is past a uint64_t.
  if (!bytes || *bytes >= kTwoTo64 || *bytes < 1.0) return std::nullopt;
  return uint64_t(*bytes);
}

uint64_t library_address_space() {
  return (uint64_t(128) << 20) + internal::usable_cpus() * 2 * internal::thread_stack_bytes() + (uint64_t(32) << 20);
}

std::string out_of_memory_text() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return "out of memory";
  return "out of memory (within ulimit -v, " + memory_text(uint64_t(limit.rlim_cur)) + ")";
}

std::string address_space_refusal(uint64_t working) {
  const std::optional<uint64_t> left = internal::address_space_left();
  const uint64_t libraries = library_address_space();
  if (!left || working + libraries <= *left) return "";
  const std::string libs = memory_text(libraries) + " that the libraries under a model map when they first run "
                           "(buffers, thread stacks, compiled kernels)";
  return "needs about " + memory_text(working + libraries) + " of address space (" +
         (working ? memory_text(working) + " of working memory, the model's estimate, and " : "") + libs +
         "), and ulimit -v leaves " + memory_text(*left) + " (raise ulimit -v, or pass --memory-limit off to "
         "override)";
}

CpuMemoryState CpuMemoryState::now() {
  return {available_cpu_memory(), total_cpu_memory(), internal::own_resident_memory()};
}

bool may_fit_later(uint64_t bytes, const CpuMemoryState& state) {
  if (!state.total) return false;
  const uint64_t base = std::max(*state.total / 16, uint64_t(512) << 20);
  const uint64_t after_base = *state.total > base ? *state.total - base : 0;  // step by step: no wrap
  const uint64_t room = after_base > state.own ? after_base - state.own : 0;
  return bytes <= room;
}

namespace {

// The refusal of `bytes` against state.available ("needs ..." said by the caller): how much is available of what,
// and whether a retry may fit.
MemoryVerdict against_available(const std::string& needs, uint64_t bytes, const CpuMemoryState& state,
                                const std::string& override_it) {
  std::string refusal = needs + "the memory available is " + memory_text(*state.available);
  if (!may_fit_later(bytes, state)) return {refusal + " (" + override_it + ")"};
  const uint64_t held = *state.total - std::min(*state.total, *state.available + state.own);
  return {refusal + " of the " + memory_text(*state.total) + " this process may use; other processes hold about " +
              memory_text(held) + " (retry when they have ended, or " + override_it + ")",
          true};
}

}  // namespace

std::string memory_refusal(const genplug_geometry_t& g, std::optional<uint64_t> limit) {
  return memory_verdict(g, limit).refusal;
}

MemoryVerdict memory_verdict(const genplug_geometry_t& g, std::optional<uint64_t> limit) {
  const bool reads_state = !limit && g.latent_device.device_type == kDLCPU;
  return memory_verdict(g, limit, reads_state ? CpuMemoryState::now() : CpuMemoryState{});
}

MemoryVerdict memory_verdict(const genplug_geometry_t& g, std::optional<uint64_t> limit, const CpuMemoryState& state) {
  if (!GENPLUG_HAS_FIELD(&g, genplug_geometry_t, working_memory_bytes) || g.working_memory_bytes == 0) return {};
  if (limit && *limit == 0) return {};
  // ulimit -v binds a CPU job whatever limit is given: only "off" lifts the check.
  if (g.latent_device.device_type == kDLCPU)
    if (std::string why = address_space_refusal(g.working_memory_bytes); !why.empty()) return {why};
  const uint64_t bytes = g.working_memory_bytes;
  const std::string needs = "needs about " + memory_text(bytes) + " of working memory (the model's estimate), ";
  const std::string override_it = "pass --memory-limit SIZE or off to override";
  if (limit) {
    if (bytes <= *limit) return {};
    return {needs + "the limit given is " + memory_text(*limit) + " (" + override_it + ")"};
  }
  if (g.latent_device.device_type != kDLCPU) return {};  // device memory: only an explicit limit is checked
  if (!state.available || bytes <= *state.available) return {};
  return against_available(needs, bytes, state, override_it);
}

std::string plate_memory_refusal(uint64_t pixels, std::optional<uint64_t> limit) {
  return plate_memory_verdict(pixels, limit).refusal;
}

MemoryVerdict plate_memory_verdict(uint64_t pixels, std::optional<uint64_t> limit) {
  return plate_memory_verdict(pixels, limit, limit ? CpuMemoryState{} : CpuMemoryState::now());
}

MemoryVerdict plate_memory_verdict(uint64_t pixels, std::optional<uint64_t> limit, const CpuMemoryState& state) {
  if (limit && *limit == 0) return {};
  const uint64_t needed = pixels * kPlateBytesPerPixel;  // at most 2^28 pixels (plate.cpp): no overflow
  const std::string needs = "decoding it needs about " + memory_text(needed) + " (" + std::to_string(pixels) +
                            " pixels), ";
  const std::string override_it = "a smaller plate, or --memory-limit SIZE or off to override";
  if (limit) {
    if (needed <= *limit) return {};
    return {needs + "the limit given is " + memory_text(*limit) + " (" + override_it + ")"};
  }
  if (!state.available || needed <= *state.available) return {};
  return against_available(needs, needed, state, override_it);
}

}  // namespace genplug::host
