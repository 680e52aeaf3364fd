// The sigma schedule for a configured scheduler: steps + 1 non-increasing values in [0, 1]. Equal neighbours
// (zero-length steps) occur only where float32 rounds the shifted schedule to 1.0, as BFL's does at large mu.
#pragma once

#include <cstdint>
#include <vector>

#include "config.hpp"

namespace genplug::flowmatch {

// Throws genplug::InvalidArgument for a step count or token count the settings cannot serve
// (steps 0 without config.steps, a custom list of another length, a shift that overflows).
std::vector<double> make_schedule(const ScheduleSettings& settings, uint32_t steps, uint64_t image_tokens);

// How many steps of `sigmas` have zero length (sigmas[i] == sigmas[i - 1]).
uint32_t zero_length_steps(const std::vector<double>& sigmas);

// The mu the flux schedule uses for `image_tokens` (pinned or from the token line).
double schedule_mu(const ScheduleSettings& settings, uint64_t image_tokens);

}  // namespace genplug::flowmatch
