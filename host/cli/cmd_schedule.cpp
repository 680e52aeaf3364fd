// genplug schedule — prints the sigma schedule a scheduler plugin gives for a step count and image size,
// and how many model evaluations its sampler makes over it, so schedules can be compared with other ports:
//
//   genplug schedule --plugin org.genplug.flowmatch --config '{"sampler":"heun"}' --steps 28 --image-tokens 4096
//
// Output: {"sigmas":[...],"evaluations":K}; every double is printed at round-trip precision.
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include <genplug/host.hpp>

#include "cli_options.hpp"
#include "standard_output.hpp"

namespace genplug::cli::schedule_command {
namespace {

using host::ErrorKind;
using host::HostError;
using nlohmann::json;

struct ScheduleOptions {
  std::string plugin = "org.genplug.flowmatch";
  std::string config = "{}";
  uint32_t steps = 0;
  uint64_t image_tokens = 0;
};

void run_schedule(const ScheduleOptions& o, const Globals& globals) {
  const json config = json_object_option("--config", o.config);
  host::PluginCatalog catalog = globals.catalog();
  CallContext ctx;
  log_to_stderr(ctx, globals);
  SchedulerProxy scheduler =
      create_from_option([&] { return catalog.create_scheduler(o.plugin, config, ctx, "--config"); });
  std::vector<double> sigmas;
  try {
    sigmas = scheduler.sigmas(o.steps, o.image_tokens, ctx);
  } catch (const PluginError& e) {
    // The plugin refuses a step or token count it cannot serve: the command line asked for it.
    throw HostError(tool_call_error_kind(e.code()), e.what());
  }
  const uint64_t evaluations = scheduler.evaluation_count(static_cast<uint32_t>(sigmas.size()), ctx);
  nlohmann::ordered_json out;  // sigmas first, as documented
  out["sigmas"] = sigmas;
  out["evaluations"] = evaluations;
  product() << out.dump() << "\n";
}

const RegisterCommand kSchedule(
    "schedule", "Print the sigma schedule and evaluation count a scheduler plugin gives (JSON)",
    [](CLI::App& cmd, Globals& globals) {
      auto o = std::make_shared<ScheduleOptions>();
      cmd.add_option("--plugin", o->plugin, "Scheduler plugin id")->capture_default_str()->type_name("ID");
      cmd.add_option("--config", o->config, "Plugin config, a JSON object")->capture_default_str()->type_name("JSON");
      cmd.add_option("--steps", o->steps,
                     "Number of sampling steps (the schedule has steps + 1 sigmas); 0 asks for the scheduler's own "
                     "count where it has one (flowmatch: config.steps or the custom list)")
          ->required()
          ->type_name("N")
          ->transform(decimal_integer_for(o->steps));
      cmd.add_option("--image-tokens", o->image_tokens,
                     "Image tokens, 1 or more: (height / 16) x (width / 16) for FLUX, e.g. 4096 at 1024 x 1024")
          ->required()
          ->transform(decimal_integer(1, std::numeric_limits<uint64_t>::max()))  // an image has a token
          ->type_name("L");
      cmd.callback([o, &globals] { run_schedule(*o, globals); });
    });

}  // namespace
}  // namespace genplug::cli::schedule_command
