// libFuzzer target: org.genplug.flowmatch's config parser (plugins/flowmatch/src/config.cpp, compiled in) on
// arbitrary text, directly and through the host's schema validation (config_fuzz.hpp).
#include <cmath>
#include <cstdint>

#include "config.hpp"
#include "config_fuzz.hpp"

namespace fm = genplug::flowmatch;
namespace gf = genplug::fuzz;

namespace {

const genplug::host::JsonSchema* schema = nullptr;

void use(const fm::FlowmatchConfig& c) {
  (void)fm::to_string(c.schedule.kind);
  (void)fm::to_string(c.sampler.kind);
  if (c.schedule.kind == fm::ScheduleKind::custom && c.schedule.custom_sigmas.size() < 2) __builtin_trap();
  for (double s : c.schedule.custom_sigmas)
    if (!(s >= 0.0 && s <= 1.0)) __builtin_trap();
  if (!(c.sampler.eta >= 0.0 && c.sampler.eta <= 1.0)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  schema = new genplug::host::JsonSchema(nlohmann::json::parse(fm::config_schema_text()));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gf::fuzz_config("flowmatch_config", *schema, data, size, fm::parse_config, use);
  return 0;
}
