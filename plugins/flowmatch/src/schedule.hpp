// The sigma schedule for a configured scheduler: steps + 1 strictly decreasing values in [0, 1].
#pragma once

#include <cstdint>
#include <vector>

#include "config.hpp"

namespace genplug::flowmatch {

// Throws genplug::InvalidArgument for a step count or token count the settings cannot serve
// (steps 0 without config.steps, a custom list of another length, a shift that overflows).
std::vector<double> make_schedule(const ScheduleSettings& settings, uint32_t steps, uint64_t image_tokens);

// The mu the flux schedule uses for `image_tokens` (pinned or from the token line).
double schedule_mu(const ScheduleSettings& settings, uint64_t image_tokens);

}  // namespace genplug::flowmatch
