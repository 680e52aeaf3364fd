// The plugin library: one scheduler plugin, org.genplug.flowmatch, tying the config, the schedule and the
// samplers to the genplug scheduler ABI.
#include <memory>
#include <string>

#include <genplug/plugin.hpp>

#include "config.hpp"
#include "sampler.hpp"
#include "sampling_run.hpp"
#include "schedule.hpp"

namespace genplug::flowmatch {

namespace {

class FlowmatchScheduler final : public genplug::Scheduler {
 public:
  explicit FlowmatchScheduler(FlowmatchConfig config)
      : config_(std::move(config)), sampler_(make_sampler(config_.sampler)) {}

  std::vector<double> sigmas(uint32_t steps, uint64_t image_tokens, Context& ctx) override {
    std::vector<double> s = make_schedule(config_.schedule, steps, image_tokens);
    if (const uint32_t k = zero_length_steps(s))
      ctx.warn(std::to_string(k) + " of " + std::to_string(s.size() - 1) + " steps have zero length (mu = " +
               std::to_string(schedule_mu(config_.schedule, image_tokens)) + " at " + std::to_string(image_tokens) +
               " image tokens rounds their float32 sigmas to " + std::to_string(s[0]) +
               "): each still costs a model evaluation and changes nothing; pin mu (e.g. config.mu 1.15) for a "
               "schedule where every step counts");
    return s;
  }

  uint64_t evaluation_count(uint32_t sigma_count) override {
    if (sigma_count < 2)  // no step: nothing this scheduler can sample (scheduler.h)
      throw InvalidArgument("sigma_count: needs at least 2 sigmas (one step), got " + std::to_string(sigma_count));
    return sampler_->evaluation_count(sigma_count);
  }

  void sample(const genplug_sample_request_t& request, Context& ctx) override {
    if (!GENPLUG_HAS_FIELD(&request, genplug_sample_request_t, seed))
      throw InvalidArgument("request: struct_size " + std::to_string(request.struct_size) + " is too small");
    ctx.check_cancelled();
    SamplingRun run(request, ctx, sampler_->evaluation_count(request.sigma_count));
    sampler_->run(run);
  }

 private:
  FlowmatchConfig config_;
  std::unique_ptr<Sampler> sampler_;
};

PluginInfo plugin_info() {
  PluginInfo info;
  info.id = "org.genplug.flowmatch";
  info.name = "Flow matching";
  info.vendor = "genplug";
  info.version = "1.0.0";
  info.description =
      "FLUX flow-matching schedules (BFL and diffusers float32 exact, or float64) with Euler, Heun, DPM++ 2M and "
      "Euler-ancestral samplers";
  info.features = {"schedule:flux", "schedule:none", "schedule:custom", "sampler:euler",
                   "sampler:heun",  "sampler:dpmpp-2m", "sampler:euler-ancestral"};
  info.config_schema = config_schema_text();
  return info;
}

void register_plugins(Registry& registry) {
  registry.add_scheduler(plugin_info(), [](const std::string& config_json, Context&) {
    return std::make_unique<FlowmatchScheduler>(parse_config(config_json));
  });
}

}  // namespace

}  // namespace genplug::flowmatch

GENPLUG_EXPORT_ENTRY(genplug::flowmatch::register_plugins)
