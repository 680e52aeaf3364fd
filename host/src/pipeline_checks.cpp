// What Pipeline checks before any job runs: plugin references and configs, the model's geometry and each
// job's size, plates, LoRA files, refine passes, output folders and previews.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <system_error>

#include <genplug/host/errors.hpp>
#include <genplug/host/memory_budget.hpp>
#include <genplug/host/plate.hpp>
#include <genplug/host/png_writer.hpp>
#include <genplug/internal/bounded_json.hpp>
#include <genplug/internal/regular_file.hpp>

#include "atomic_output.hpp"
#include "message_text.hpp"
#include "pipeline_impl.hpp"
#include "resolved_path.hpp"

namespace genplug::host {
namespace fs = std::filesystem;

namespace {

// What a plugin's failure while a job is checked is: a refusal of the job's settings (invalid argument, config) is
// the manifest's (3), a cancellation or a shortage a retry may meet keep their kinds, anything else is the
// plugin's own failure (5), as during the job.
ErrorKind kind_of_check_failure(const PluginError& e) {
  switch (e.code()) {
    case GENPLUG_E_CANCELLED: return ErrorKind::cancelled;
    case GENPLUG_E_OUT_OF_MEMORY: return ErrorKind::retryable;
    case GENPLUG_E_INVALID_ARGUMENT:
    case GENPLUG_E_CONFIG: return ErrorKind::manifest;
    default: return ErrorKind::runtime;
  }
}

std::string nearest_sizes(uint32_t v, uint32_t q) {
  const uint32_t lo = (v / q) * q, hi = lo + q;
  return lo == 0 ? std::to_string(hi) : std::to_string(lo) + " or " + std::to_string(hi);
}

// A plate of NaN or infinite values would be encoded into a latent the model turns into NaN velocities: the
// plate's fault, found before anything renders.
void check_finite_plate(const fs::path& path, const ImageRGB& plate) {
  const size_t bad = size_t(std::count_if(plate.planar.begin(), plate.planar.end(), [](float v) { return !std::isfinite(v); }));
  if (bad)
    throw HostError(ErrorKind::manifest, "plate '" + path.string() + "': " + std::to_string(bad) + " of its " +
                                             std::to_string(plate.planar.size()) +
                                             " values are not finite (NaN or infinity)");
}

}  // namespace

// Why an output's folder cannot take it, if it cannot: the folder does not exist, or the writer cannot create its
// temporary file there (one is created and removed: access(W_OK) says yes to root where nothing can be created,
// as in /proc).
std::optional<HostError> output_folder_problem(const fs::path& out) {
  const fs::path folder = out.has_parent_path() ? out.parent_path() : fs::path(".");
  std::error_code ec;
  const fs::file_status status = fs::status(folder, ec);
  if (!fs::is_directory(status)) {  // the reason where there is one: a file, a symlink loop, no permission
    const std::string why = fs::exists(status) ? "is not a folder" : ec && ec != std::errc::no_such_file_or_directory
                                                                         ? "cannot be reached: " + ec.message()
                                                                         : "does not exist";
    return HostError(ErrorKind::output, "folder '" + folder.string() + "' " + why);
  }
  try {
    TemporaryFile probe(out);
  } catch (const HostError& e) {
    return e;
  }
  return std::nullopt;
}

std::optional<std::string> file_cannot_be_written(const fs::path& file) {
  if (file.filename().string().size() > 255)  // NAME_MAX: the write would fail after the render
    return "the file name is longer than 255 bytes";
  // The writers' own rule (replaced_file.hpp), through links: what the write would replace.
  const std::string why = internal::unreplaceable_reason(written_path(file));
  if (why.empty()) return std::nullopt;
  return "'" + file.string() + "': " + why;
}

// Probed again for this output: the folder's first probe named another item's file.
HostError output_folder_error(const fs::path& out, const std::string& where) {
  const std::optional<HostError> e = output_folder_problem(out);
  return e ? HostError(e->kind(), where + ": " + e->what())
           : HostError(ErrorKind::output, where + ": the folder of '" + out.string() + "' could not be written");
}

// The job's output or preview whose folder cannot be written (checks, 2.), if any.
std::optional<fs::path> Pipeline::Impl::unwritable_output(const Job& job) const {
  if (unwritable_folders.count(written_path(job.output).parent_path())) return job.output;
  const fs::path preview = preview_path(job.output);
  if (previews() && unwritable_folders.count(written_path(preview).parent_path())) return preview;
  return std::nullopt;
}

// A plugin reference: the plugin exists, is of the kind needed there, and its config passes its schema.
void Pipeline::Impl::check_ref(const PluginRef& ref, const char* kind) const {
  const PluginRecord* r = catalog->find(ref.plugin);
  if (!r)
    throw HostError(ErrorKind::plugin, where(ref) + ".plugin: no plugin '" + ref.plugin + "' found" +
                                           known_text(kind));
  if (r->kind != kind)
    throw HostError(ErrorKind::manifest, where(ref) + ".plugin: '" + ref.plugin + "' is a " + r->kind +
                                             " plugin, a " + kind + " plugin is needed here");
  const auto problems = catalog->validate_config(ref.plugin, ref.config);
  if (!problems.empty()) {
    std::string p = problems.front();
    if (p.rfind("config", 0) == 0) p = p.substr(6);  // "config.x: ..." -> ".x: ..."
    throw HostError(ErrorKind::manifest, where(ref) + ".config" + p + " [plugin " + ref.plugin + "]");
  }
}

// " (known posenc plugins: a, b)", for a reference to a plugin that was not found.
std::string Pipeline::Impl::known_text(const char* kind) const {
  std::string s;
  for (const auto& r : catalog->plugins())
    if (r.kind == kind) s += (s.empty() ? "" : ", ") + r.id;
  return " (known " + std::string(kind) + " plugins: " + (s.empty() ? "none" : s) + catalog->rejections_text() +
         ")";
}

// The model's description (information) and its geometry at the default size: every default and size
// rule the host applies comes from there.
void Pipeline::Impl::read_model_geometry() {
  try {
    description = internal::parse_bounded_json(model.describe());
  } catch (const std::exception& e) {  // not JSON, or nested too deep
    throw HostError(ErrorKind::plugin, manifest.model.plugin + ": describe() is not JSON: " + genplug::internal::json_error_text(e));
  }
  defaults = model.geometry(0, 0, 0, ctx);
  if (defaults.size_multiple == 0 || defaults.width == 0 || defaults.height == 0 || defaults.default_steps == 0)
    throw HostError(ErrorKind::plugin, manifest.model.plugin + ": geometry() states a zero size, size multiple or "
                                                               "step count");
}

// The job's size with the model's defaults filled in, checked by the model itself (its geometry).
genplug_geometry_t Pipeline::Impl::job_geometry(const Job& job) const {
  const std::string w = manifest.path.string() + ": " + job.where;
  const uint32_t width = job.width.value_or(defaults.width), height = job.height.value_or(defaults.height);
  const uint32_t q = defaults.size_multiple;
  if (width % q)
    throw HostError(ErrorKind::manifest, w + ".width: " + std::to_string(width) + " is not a multiple of " +
                                             std::to_string(q) + " (nearest valid: " + nearest_sizes(width, q) + ")");
  if (height % q)
    throw HostError(ErrorKind::manifest, w + ".height: " + std::to_string(height) + " is not a multiple of " +
                                             std::to_string(q) + " (nearest valid: " + nearest_sizes(height, q) + ")");
  CallContext c;
  try {
    return model.geometry(height, width, 0, c);
  } catch (const ContractError& e) {  // the plugin broke the ABI (too many axes): its fault, not the manifest's
    throw HostError(ErrorKind::plugin, w + ": " + e.what());
  } catch (const PluginError& e) {
    throw HostError(kind_of_check_failure(e),
                    w + ": " + std::to_string(width) + " x " + std::to_string(height) + ": " + e.what());
  }
}

// A plate's colour space is read only for an EXR plate: given for a PNG (sRGB by definition), for a refine pass of
// the first pass's render or for a job without a plate, it would be ignored, yet change the item's identity.
void Pipeline::Impl::check_plate_colorspace_applies(const Job& job) const {
  if (job.init_colorspace.empty() || (job.init_image && !is_png_path(*job.init_image))) return;
  const std::string field = job.refine_pass ? ".plate_colorspace: " : ".init_colorspace: ";
  const std::string why = !job.init_image ? (job.refine_pass ? "there is no plate (the pass refines the first pass's "
                                                               "render)"
                                                             : "there is no init_image")
                                          : "a PNG plate is read as sRGB";
  throw HostError(ErrorKind::manifest, manifest.path.string() + ": " + job.where + field +
                                           "applies to EXR plates only, and " + why + ": remove it");
}

// A plate's settings on a job without a plate change nothing it renders (nor its item hash): said, not refused, as
// genplug 0.3.3 rendered such manifests. Named by the manifest job: a batch's items give one warning (Impl::log).
// Guidance is not judged: a model's default of 0 may be a guided model's chosen value (model.h cannot tell).
void Pipeline::Impl::warn_ignored_settings(const Job& job) const {
  const std::string where = manifest.path.string() + ": jobs[" + std::to_string(job.job) + "]";
  const bool strength = job.raw.contains("strength"), resize = job.raw.contains("resize");
  const char* what = strength && resize ? "strength and resize are" : strength ? "strength is" : "resize is";
  if (!job.init_image && (strength || resize))
    log(GENPLUG_LOG_WARNING, where + ": " + what + " ignored without an init_image (a plate)");
}

// A plate must exist, decode whole, and (resize "error") have the job's size: checked before any job runs.
void Pipeline::Impl::check_plate(const Job& job) {
  check_plate_colorspace_applies(job);
  if (!job.init_image && !job.refine_pass) return;
  const std::string where_plate =
      manifest.path.string() + ": " + job.where + (job.refine_pass ? ".plate: " : ".init_image: ");
  const uint32_t steps = job.steps.value_or(defaults.default_steps);
  if (img2img_start(steps, job.strength) >= steps)
    throw HostError(ErrorKind::manifest, manifest.path.string() + ": " + job.where + ".strength: " +
                                             short_number(job.strength) + " of " + std::to_string(steps) +
                                             " steps leaves no step to run");
  if (!job.init_image) return;  // a refine pass of the first pass's render: its size is checked by check_refine
  try {
    const auto [w, h] = plate_size(*job.init_image);
    // Against an explicit limit always; against the memory available where a job's own estimate is (a model
    // on the CPU: a GPU container's page cache must not refuse a plate).
    const bool cpu_model = job_geometry(job).latent_device.device_type == kDLCPU;
    const std::optional<uint64_t> limit = options.memory_limit || cpu_model ? options.memory_limit : uint64_t(0);
    const MemoryVerdict verdict = plate_memory_verdict(uint64_t(w) * uint64_t(h), limit);
    if (!verdict.refusal.empty())
      throw HostError(verdict.retryable ? ErrorKind::retryable : ErrorKind::manifest,
                      "plate '" + job.init_image->string() + "': " + std::to_string(w) + " x " + std::to_string(h) +
                          ": " + verdict.refusal);
    const uint32_t jw = job.width.value_or(defaults.width), jh = job.height.value_or(defaults.height);
    if (job.resize == "error" && (uint32_t(w) != jw || uint32_t(h) != jh))
      throw HostError(ErrorKind::manifest, "plate '" + job.init_image->string() + "': " + std::to_string(w) + " x " +
                                               std::to_string(h) + " is not the job's " + std::to_string(jw) + " x " +
                                               std::to_string(jh) + " (resize: \"fit\" or \"fill\" adapts it)");
    // Decoded once before any job (its header can be whole and its data truncated); its size as it is, so
    // nothing is resampled or converted here.
    if (plates_decoded.insert(resolved_path(*job.init_image)).second)
      check_finite_plate(*job.init_image, load_plate(*job.init_image, w, h, PlateResize::error, nullptr));
  } catch (const HostError& e) {  // an unreadable plate is the manifest's fault, whatever the reader said
    const bool retryable = e.kind() == ErrorKind::retryable;  // the memory a retry may find: not the plate's fault
    throw HostError(retryable ? ErrorKind::retryable : ErrorKind::manifest, where_plate + e.what());
  }
  plate_color_of(job);  // its colour space, named by its own field
}

// A refine pass: its posenc, size, memory and plate, like a job's; with resize "error", the first pass's
// render must already have the refine size.
void Pipeline::Impl::check_refine(const Job& job, const Job& pass) {
  const uint32_t w = job.width.value_or(defaults.width), h = job.height.value_or(defaults.height);
  if (!pass.init_image && pass.resize == "error" && (w != *pass.width || h != *pass.height))
    throw HostError(ErrorKind::manifest, manifest.path.string() + ": " + pass.where + ".resize: the first pass's " +
                                             std::to_string(w) + " x " + std::to_string(h) + " is not " +
                                             std::to_string(*pass.width) + " x " + std::to_string(*pass.height) +
                                             " (\"fit\" or \"fill\" resizes it)");
  if (pass.posenc) check_ref(*pass.posenc, "posenc");
  const MemoryVerdict verdict = memory_verdict(job_geometry(pass), options.memory_limit);
  if (!verdict.refusal.empty())
    throw HostError(verdict.retryable ? ErrorKind::retryable : ErrorKind::manifest,
                    manifest.path.string() + ": " + pass.where + ": " + std::to_string(*pass.width) + " x " +
                        std::to_string(*pass.height) + " " + verdict.refusal);
  check_plate(pass);
}

// A job's LoRA files exist before any job runs, and fit the model as far as it can tell without applying them
// (GENPLUG_EXT_MODEL_ADAPTER_CHECK: a module it lacks, shapes, a folder with no LoRA in it): what would otherwise
// fail that job after the jobs before it had rendered. Each distinct list is checked once.
void Pipeline::Impl::check_lora_files(const Job& job) {
  if (!job.loras) return;
  const std::string where = manifest.path.string() + ": " + job.where + ".loras";
  for (size_t k = 0; k < job.loras->size(); ++k) {
    const fs::path file = (*job.loras)[k].at("path").get<std::string>();
    // A file or a folder (of shards, as the model's own config.loras takes them); what is in it is the plugin's.
    std::error_code ec;
    const fs::file_status status = fs::status(file, ec);
    if (!fs::is_regular_file(status) && !fs::is_directory(status)) {
      const bool absent = ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory;
      const std::string what = ec == std::errc::too_many_symbolic_link_levels ? "a loop of symbolic links"
                               : absent && fs::is_symlink(file) ? "it " + internal::missing_file_text(file)
                               : absent                                         ? "nothing is there"
                               : ec                                             ? ec.message()
                                                                                : "a device, FIFO or socket";
      throw HostError(ErrorKind::manifest, where + "[" + std::to_string(k) + "].path: '" + file.string() +
                                               "' is no file or folder (" + what + ")");
    }
  }
  const std::string list = job.loras->dump();  // as use_job_loras sets it
  if (!model.can_check_adapters() || !loras_checked.insert(list).second) return;
  try {
    model.check_adapters(list, ctx);
  } catch (const PluginError& e) {
    // What does not fit, or cannot be read, is the manifest's (exit 3), as at the job's own time; a model that
    // cannot tell says nothing (the job's time will); a shortage of memory now is retryable (75).
    if (e.code() == GENPLUG_E_CONFIG || e.code() == GENPLUG_E_IO || e.code() == GENPLUG_E_INVALID_ARGUMENT)
      throw HostError(ErrorKind::manifest, where + ": " + e.what());
    if (e.code() == GENPLUG_E_UNSUPPORTED) return;
    if (e.code() == GENPLUG_E_OUT_OF_MEMORY) throw HostError(ErrorKind::retryable, where + ": " + e.what());
    throw;
  }
}

// A job's schedule and spectra, computed once per distinct (scheduler, posenc, size, steps) before any job runs:
// what the plugins refuse for this job (flowmatch's time shift beyond 11 584², a custom schedule of another
// length, DyPE's base_resolution below a token) is the manifest's error, found before the first render rather
// than after the jobs before it. Also the x0 layers against the evaluations the scheduler will make.
void Pipeline::Impl::rehearse_schedule(const Job& job, std::set<std::string>& rehearsed) {
  const PluginRef* pe = posenc_ref(job);
  const genplug_geometry_t g = job_geometry(job);
  const uint32_t steps = job.steps.value_or(defaults.default_steps);
  const bool from_plate = job.init_image || job.refine_pass;
  const nlohmann::json key = {scheduler_ref(job).plugin, scheduler_ref(job).config, pe ? pe->plugin : "",
                              pe ? pe->config : nlohmann::json(), g.width, g.height, steps, job.exr.x0_layers,
                              from_plate ? job.strength : -1.0};
  if (!rehearsed.insert(key.dump()).second) return;
  try {
    std::optional<SchedulerProxy> own_scheduler;
    if (job.scheduler)
      own_scheduler =
          catalog->create_scheduler(job.scheduler->plugin, job.scheduler->config, ctx, where(*job.scheduler) + ".config");
    const SchedulerProxy& s = own_scheduler ? *own_scheduler : scheduler;
    std::vector<double> sigmas = s.sigmas(steps, g.image_tokens, ctx);
    if (from_plate) sigmas = plate_schedule(std::move(sigmas), job.strength);  // as JobRun::start_from_plate
    const uint64_t evaluations = s.evaluation_count(uint32_t(sigmas.size()), ctx);
    for (uint32_t e : job.refine ? std::vector<uint32_t>() : job.exr.x0_layers)  // a refine pass's are the pass's
      if (e > evaluations)
        throw HostError(ErrorKind::manifest, manifest.path.string() + ": " + job.where + ": exr.x0_layers: evaluation " +
                                                 std::to_string(e) + " is beyond the " + std::to_string(evaluations) +
                                                 " model evaluations of this job");
    if (!pe) return;
    std::optional<PosencProxy> own_posenc;
    if (job.posenc)
      own_posenc = catalog->create_posenc(job.posenc->plugin, job.posenc->config, ctx, where(*job.posenc) + ".config");
    const PosencProxy& p = own_posenc ? *own_posenc : *posenc;
    const RotaryLayout layout = RotaryLayout::from_geometry(g);
    const std::vector<uint32_t> extent(g.target_extent, g.target_extent + g.axis_count);
    for (double sigma : sigmas) p.compute(layout, extent, std::clamp(sigma, 0.0, 1.0), ctx);
  } catch (const ContractError& e) {  // the plugin broke the ABI (a NaN spectrum): its fault, as during a job
    throw HostError(ErrorKind::plugin, manifest.path.string() + ": " + job.where + ": " + e.what());
  } catch (const PluginError& e) {
    // What the plugin refuses in this job's settings is the manifest's; its own failures keep their kind.
    throw HostError(kind_of_check_failure(e), manifest.path.string() + ": " + job.where + " (" +
                                                  std::to_string(g.width) + " x " + std::to_string(g.height) + ", " +
                                                  std::to_string(steps) + " steps): " + e.what());
  } catch (const std::invalid_argument& e) {  // the model's layout and target extent disagree (PosencProxy)
    throw HostError(ErrorKind::plugin, manifest.path.string() + ": " + job.where + ": " + model.id() + ": " + e.what());
  }
}

// A job without "steps" renders the model's default count, and asks the scheduler for that many: a count of the
// scheduler's own (flowmatch's config.steps, which the ABI gives for steps = 0) is then unused, which is said
// rather than left silent. A probe for a warning: its log lines (a schedule no job runs) are dropped, and any
// failure means nothing to say (a scheduler without a count of its own refuses steps = 0; the rehearsal names
// the rest).
void Pipeline::Impl::warn_unused_scheduler_steps(const Job& job) {
  CallContext quiet;
  quiet.cancel_flag(options.cancel);
  std::vector<double> own;
  try {
    std::optional<SchedulerProxy> own_scheduler;
    if (job.scheduler)
      own_scheduler = catalog->create_scheduler(job.scheduler->plugin, job.scheduler->config, quiet, "");
    own = (own_scheduler ? *own_scheduler : scheduler).sigmas(0, job_geometry(job).image_tokens, quiet);
  } catch (const std::exception&) {
    return;
  }
  if (own.size() < 2 || own.size() - 1 == defaults.default_steps) return;
  log(GENPLUG_LOG_WARNING, manifest.path.string() + ": jobs[" + std::to_string(job.job) + "]: the scheduler's own " +
                               "step count (" + std::to_string(own.size() - 1) + ") is not used: a job without " +
                               "\"steps\" renders the model's default of " + std::to_string(defaults.default_steps) +
                               " (give \"steps\" to choose)");
}

// The files a job writes replace none the run reads or another item writes. An output the job may overwrite
// (exr.overwrite, --force) is not an input: the manifest, a prompts file, a plate, a LoRA. Without overwrite it is
// not the manifest, a prompts file or a LoRA either (such a file had been refused as "no readable EXR", whose
// advice, --force, then met this refusal); it may be a plate, the render of an earlier job that a later one
// refines (a chain: on resume the first is up to date, and an output that is not its item's is refused anyway,
// check_existing_output). With previews on, each job's preview (its output as .png) is a file of its own: not an
// output of any work item (the job's own, when that is named .png), not another preview, not an input.
void Pipeline::Impl::check_output_paths() const {
  auto blame = [](const std::string& what) { return what.rfind("the ", 0) == 0 ? what : "the file of " + what; };
  PathResolver resolved;
  const auto is_plate = [](const std::string& what) {
    for (const std::string end : {".init_image", ".refine.plate"})
      if (what.size() >= end.size() && what.compare(what.size() - end.size(), end.size(), end) == 0) return true;
    return false;
  };
  for (const Job& j : manifest.jobs)
    if (const auto input = manifest.inputs.find(resolved(j.output));
        input != manifest.inputs.end() && (overwrite(j) || !is_plate(input->second)))
      throw HostError(ErrorKind::manifest,
                      manifest.path.string() + ": " + j.where + ".output: \"" + j.output.string() + "\" is " +
                          blame(input->second) + ", which this run reads: not replaced" +
                          (overwrite(j) ? ", even with overwrite" : ""));
  if (!previews()) return;
  std::map<fs::path, std::string> taken = manifest.inputs;
  for (const auto& [path, where] : manifest.outputs) taken.emplace(path, "the output of " + where);
  for (const Job& j : manifest.jobs) {
    const fs::path preview = preview_path(j.output);
    const auto [at, added] = taken.emplace(resolved(preview), "the preview of " + j.where);
    if (!added)
      throw HostError(ErrorKind::manifest, manifest.path.string() + ": " + j.where + ".output: its PNG preview '" +
                                               preview.string() + "' would replace " + blame(at->second) +
                                               " (previews are the output's name with .png; rename the output)");
  }
}

}  // namespace genplug::host
