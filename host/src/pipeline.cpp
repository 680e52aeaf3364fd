#include <genplug/host/pipeline.hpp>

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>
#include <unistd.h>

#include <genplug/host.hpp>
#include <genplug/host/errors.hpp>
#include <genplug/host/color_management.hpp>
#include <genplug/host/exr_writer.hpp>
#include <genplug/host/plate.hpp>
#include <genplug/host/png_writer.hpp>
#include <genplug/host/tensor_ops.hpp>

#include "atomic_output.hpp"
#include "cpu_tensor_math.hpp"
#include "fnv1a.hpp"
#include <genplug/host/memory_budget.hpp>
#include <genplug/internal/bounded_json.hpp>

namespace genplug::host {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

std::string nearest_sizes(uint32_t v, uint32_t q) {
  const uint32_t lo = (v / q) * q, hi = lo + q;
  return lo == 0 ? std::to_string(hi) : std::to_string(lo) + " or " + std::to_string(hi);
}

std::string number_text(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

// A value that is not finite, for messages: "NaN", "inf" or "-inf".
std::string non_finite_name(double v) { return std::isnan(v) ? "NaN" : v < 0 ? "-inf" : "inf"; }

// A number for messages, as a person writes it (0.1, not 0.10000000000000001).
std::string short_number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// FNV-1a 64 of a regular file's bytes ("" when it is none or cannot be read: the plate check reports that).
std::string file_hash(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::status(path, ec))) return "";
  std::ifstream in(path, std::ios::binary);
  Fnv1a hash;
  std::vector<char> buffer(1 << 16);
  while (in.read(buffer.data(), std::streamsize(buffer.size())) || in.gcount() > 0)
    hash.add(buffer.data(), size_t(in.gcount()));
  return in.bad() ? "" : hash.hex();
}

// Checks an output's folder before any job runs: it exists, and the writer can create its temporary file there
// (one is created and removed: access(W_OK) says yes to root where nothing can be created, as in /proc).
void check_output_folder(const fs::path& out, const std::string& where) {
  const fs::path folder = out.has_parent_path() ? out.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(folder, ec))
    throw HostError(ErrorKind::output, where + ": folder '" + folder.string() + "' does not exist");
  try {
    TemporaryFile probe(out);
  } catch (const HostError& e) {
    throw HostError(e.kind(), where + ": " + e.what());
  }
}

// OpenEXR's capDate ("YYYY:MM:DD hh:mm:ss", local time) and utcOffset (UTC minus local time, in seconds).
struct CaptureDate {
  std::string text;
  float utc_offset = 0;
};
CaptureDate capture_date(std::time_t now) {
  std::tm local{}, utc{};
  localtime_r(&now, &local);
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y:%m:%d %H:%M:%S", &local);
  utc.tm_isdst = local.tm_isdst;  // mktime(utc) then reads the UTC fields as local time: the difference is the offset
  return {text, float(std::difftime(std::mktime(&utc), std::mktime(&local)))};
}

// The output's colour space: exr.colorspace, else what exr.encoding stands for (its meaning before OCIO).
std::string colorspace_of(const ExrSettings& s) {
  if (!s.colorspace.empty()) return s.colorspace;
  return s.encoding == "display" ? "sRGB" : "Linear Rec.709 (sRGB)";
}

ExrOptions exr_options(const ExrSettings& s, bool force, const ColorConversion& color) {
  ExrOptions o;
  o.pixel = s.pixel == "float" ? ExrOptions::Pixel::float32 : ExrOptions::Pixel::half;
  o.colorspace = color.name();
  o.chromaticities = color.chromaticities();
  o.compression = s.compression;
  o.overwrite = s.overwrite || force;
  return o;
}

}  // namespace

struct Pipeline::Impl {
  Manifest manifest;
  PipelineOptions options;
  std::unique_ptr<PluginCatalog> catalog;
  ModelProxy model;
  SchedulerProxy scheduler;
  std::optional<PosencProxy> posenc;
  nlohmann::json description;
  genplug_geometry_t defaults{};  // the model's geometry at its default size: defaults and size multiple
  CallContext ctx;
  std::set<size_t> up_to_date;  // work items whose output is already there (resume)
  std::set<size_t> damaged;     // work items whose own output is damaged: replaced
  std::string active_loras = "null";  // the adapters set on the model: "null" is its own (config.loras)
  std::map<std::pair<std::string, std::string>, ColorConversion> colors;  // by (OCIO config, colour space)

  std::map<std::pair<std::string, std::string>, ColorConversion> plate_colors;  // the other way

  fs::path ocio_config_of(const Job& job) const {
    return ocio_config_path(job.exr.ocio_config);  // relative paths: to the working directory, as outputs
  }

  // The OCIO conversion of a job's output, made (and so checked) once per config and colour space.
  const ColorConversion& color_of(const Job& job) {
    const fs::path config = ocio_config_of(job);
    const std::string space = colorspace_of(job.exr);
    const auto key = std::make_pair(config.string(), space);
    auto it = colors.find(key);
    if (it == colors.end()) {
      try {
        it = colors.emplace(key, ColorConversion(config, space)).first;
      } catch (const HostError& e) {
        throw HostError(e.kind(), manifest.path.string() + ": " + job.where + ".exr.colorspace: " + e.what());
      }
    }
    return it->second;
  }

  // The conversion of an EXR plate to the model's sRGB: init_colorspace, else the file's oiio:ColorSpace,
  // else scene-linear Rec.709 (what genplug writes by default). PNG plates are sRGB already: none.
  const ColorConversion* plate_color_of(const Job& job) {
    if (!job.init_image || is_png_path(*job.init_image)) return nullptr;
    std::string space = job.init_colorspace;
    if (space.empty()) {
      const auto attributes = read_exr_attributes(*job.init_image);
      const auto it = attributes.find("oiio:ColorSpace");
      space = it != attributes.end() ? it->second : "Linear Rec.709 (sRGB)";
    }
    const fs::path config = ocio_config_of(job);
    const auto key = std::make_pair(config.string(), space);
    auto it = plate_colors.find(key);
    if (it == plate_colors.end()) {
      try {
        it = plate_colors.emplace(key, ColorConversion::to_model(config, space)).first;
      } catch (const HostError& e) {
        throw HostError(e.kind(), manifest.path.string() + ": " + job.where + ".init_colorspace: " + e.what());
      }
    }
    return &it->second;
  }

  // A refine pass: its posenc, size, memory and plate, like a job's; with resize "error", the first pass's
  // render must already have the refine size.
  void check_refine(const Job& job, const Job& pass) {
    const uint32_t w = job.width.value_or(defaults.width), h = job.height.value_or(defaults.height);
    if (!pass.init_image && pass.resize == "error" && (w != *pass.width || h != *pass.height))
      throw HostError(ErrorKind::manifest, manifest.path.string() + ": " + pass.where + ".resize: the first pass's " +
                                               std::to_string(w) + " x " + std::to_string(h) + " is not " +
                                               std::to_string(*pass.width) + " x " + std::to_string(*pass.height) +
                                               " (\"fit\" or \"fill\" resizes it)");
    if (pass.posenc) check_ref(*pass.posenc, "posenc");
    const std::string refusal = memory_refusal(job_geometry(pass), options.memory_limit);
    if (!refusal.empty())
      throw HostError(ErrorKind::manifest, manifest.path.string() + ": " + pass.where + ": " +
                                               std::to_string(*pass.width) + " x " + std::to_string(*pass.height) +
                                               " " + refusal);
    check_plate(pass);
  }

  // A plate must exist, be readable, and (resize "error") have the job's size: checked before any job runs.
  void check_plate(const Job& job) {
    if (!job.init_image && !job.refine_pass) return;
    const std::string where_plate = manifest.path.string() + ": " + job.where + ".init_image: ";
    const uint32_t steps = job.steps.value_or(defaults.default_steps);
    if (img2img_start(steps, job.strength) >= steps)
      throw HostError(ErrorKind::manifest, manifest.path.string() + ": " + job.where + ".strength: " +
                                               short_number(job.strength) + " of " + std::to_string(steps) +
                                               " steps leaves no step to run");
    if (!job.init_image) return;  // a refine pass of the first pass's render: its size is checked by check_refine
    try {
      const auto [w, h] = plate_size(*job.init_image);
      const uint32_t jw = job.width.value_or(defaults.width), jh = job.height.value_or(defaults.height);
      if (job.resize == "error" && (uint32_t(w) != jw || uint32_t(h) != jh))
        throw HostError(ErrorKind::manifest, "plate '" + job.init_image->string() + "': " + std::to_string(w) + " x " +
                                                 std::to_string(h) + " is not the job's " + std::to_string(jw) + " x " +
                                                 std::to_string(jh) + " (resize: \"fit\" or \"fill\" adapts it)");
      plate_color_of(job);
    } catch (const HostError& e) {  // an unreadable plate is the manifest's fault, whatever the reader said
      throw HostError(ErrorKind::manifest, where_plate + e.what());
    }
  }

  // The job's LoRAs (or the model's own) made active, only when they change.
  void use_job_loras(const Job& job) {
    const std::string wanted = job.loras ? job.loras->dump() : "null";
    if (wanted == active_loras) return;
    model.set_adapters(wanted, ctx);
    active_loras = wanted;
  }

  const PluginRef& scheduler_ref(const Job& job) const { return job.scheduler ? *job.scheduler : manifest.scheduler; }
  const PluginRef* posenc_ref(const Job& job) const {
    return job.plain_rope ? nullptr : job.posenc ? &*job.posenc : manifest.posenc ? &*manifest.posenc : nullptr;
  }

  nlohmann::json plugin_identity(const PluginRef* ref) const {
    if (!ref) return "none";
    const PluginRecord* r = catalog->find(ref->plugin);
    return {{"plugin", ref->plugin}, {"version", r ? r->version : ""}, {"config", ref->config}};
  }

  // What decides the pixels, with every default resolved (so "64" and "64.0", or a default written out, are
  // the same item); where the file goes, its name and its compression do not count.
  std::string item_hash(const Job& job) const {
    nlohmann::json identity = {
        {"prompt", job.prompt},
        {"seed", job.seed},
        {"width", job.width.value_or(defaults.width)},
        {"height", job.height.value_or(defaults.height)},
        {"steps", job.steps.value_or(defaults.default_steps)},
        {"guidance", job.guidance.value_or(defaults.default_guidance)},
        {"loras", normalised_loras(job)},
        {"model", plugin_identity(&manifest.model)},
        {"scheduler", plugin_identity(&scheduler_ref(job))},
        {"posenc", plugin_identity(posenc_ref(job))},
        {"exr", {{"pixel", job.exr.pixel}, {"encoding", job.exr.encoding}}}};
    // Settings added later enter the hash only when set, so that older outputs keep their hashes.
    if (!job.exr.x0_layers.empty()) identity["exr"]["x0_layers"] = job.exr.x0_layers;
    if (!job.exr.colorspace.empty()) identity["exr"]["colorspace"] = job.exr.colorspace;
    if (!job.exr.ocio_config.empty()) identity["exr"]["ocio_config"] = job.exr.ocio_config;
    if (job.init_image || job.refine_pass)  // the plate's bytes (not only its name) and how it enters
      identity["init_image"] = {{"file", job.init_image ? file_hash(*job.init_image) : "(first pass)"},
                                {"strength", job.strength}, {"resize", job.resize}, {"colorspace", job.init_colorspace}};
    if (job.refine) identity["refine"] = item_hash(*job.refine);  // the second pass's own settings
    return Fnv1a().add(identity.dump()).hex();
  }

  bool overwrite(const Job& job) const { return job.exr.overwrite || options.overwrite; }

  // A job's LoRAs with the scale filled in as a number ("scale": 1, 1.0 or left out are one render); null for
  // the model's own.
  static nlohmann::json normalised_loras(const Job& job) {
    if (!job.loras) return nullptr;
    nlohmann::json out = nlohmann::json::array();
    for (const auto& l : *job.loras) out.push_back({{"path", l.at("path")}, {"scale", l.value("scale", 1.0)}});
    return out;
  }

  // A job's LoRA files exist before any job runs (their contents are the model's to check when it applies them).
  void check_lora_files(const Job& job) const {
    if (!job.loras) return;
    for (size_t k = 0; k < job.loras->size(); ++k) {
      const fs::path file = (*job.loras)[k].at("path").get<std::string>();
      std::error_code ec;
      if (!fs::is_regular_file(fs::status(file, ec)))
        throw HostError(ErrorKind::manifest, manifest.path.string() + ": " + job.where + ".loras[" + std::to_string(k) +
                                                 "].path: '" + file.string() + "' is not a readable file");
    }
  }

  // What is at an existing output path: this work item's render, intact or damaged (its pixels no longer
  // match their hash), another render or file, or something that is no readable EXR.
  enum class Existing { ours_intact, ours_damaged, foreign, unreadable };
  Existing existing_output(const Job& job) const {
    std::map<std::string, std::string> attributes;
    try {
      attributes = read_exr_attributes(job.output);
    } catch (const HostError&) {
      return Existing::unreadable;
    }
    const auto hash = attributes.find("genplug.item.hash");
    if (hash == attributes.end() || hash->second != item_hash(job)) return Existing::foreign;
    return exr_pixels_intact(job.output) ? Existing::ours_intact : Existing::ours_damaged;
  }

  // An existing output without overwrite: up to date when it is this work item's intact render; rendered
  // again (with a warning) when it is this item's but damaged; else an error (the file is someone else's).
  void check_existing_output(const Job& job, const std::string& where) {
    std::error_code ec;
    if (job.output.filename().string().size() > 255)  // NAME_MAX: the write would fail after the render
      throw HostError(ErrorKind::output, where + ": the file name is longer than 255 bytes");
    const fs::file_status status = fs::status(job.output, ec);  // through links: what would be replaced
    if (fs::is_symlink(fs::symlink_status(job.output, ec)) && !fs::exists(status))
      throw HostError(ErrorKind::output, where + ": '" + job.output.string() + "' is a dangling symbolic link");
    if (fs::exists(status) && !fs::is_regular_file(status))
      throw HostError(ErrorKind::output, where + ": '" + job.output.string() + "' is " +
                                             (fs::is_directory(status) ? "a folder" : "not a regular file"));
    if (overwrite(job) || !fs::exists(fs::symlink_status(job.output, ec))) return;
    const std::string file = where + ": '" + job.output.string() + "'";
    switch (existing_output(job)) {
      case Existing::ours_intact:
        up_to_date.insert(job.index);
        return;
      case Existing::ours_damaged:
        log(GENPLUG_LOG_WARNING, file + " is this work item's render but damaged (its pixels do not match their "
                                        "hash): rendering it again");
        damaged.insert(job.index);
        return;
      case Existing::foreign:
        throw HostError(ErrorKind::output, file + " exists and was not rendered from this work item (set "
                                                  "output.overwrite in the manifest or pass --force to replace it)");
      case Existing::unreadable:
        throw HostError(ErrorKind::output, file + " exists and is no readable EXR (pass --force to replace it)");
    }
  }

  const PluginRecord& record(const PluginRef& ref) const { return *catalog->find(ref.plugin); }

  std::string where(const PluginRef& ref) const { return manifest.path.string() + ": " + ref.where; }

  void check_ref(const PluginRef& ref, const char* kind) const {
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

  std::string known_text(const char* kind) const {
    std::string s;
    for (const auto& r : catalog->plugins())
      if (r.kind == kind) s += (s.empty() ? "" : ", ") + r.id;
    return " (known " + std::string(kind) + " plugins: " + (s.empty() ? "none" : s) + ")";
  }

  void log(int32_t severity, const std::string& m) const {
    if (options.log) options.log(severity, m);
  }

  // The model's description (information) and its geometry at the default size: every default and size
  // rule the host applies comes from there.
  void read_model_geometry() {
    try {
      description = internal::parse_bounded_json(model.describe());
    } catch (const std::exception& e) {  // not JSON, or nested too deep
      throw HostError(ErrorKind::plugin, manifest.model.plugin + ": describe() is not JSON: " + e.what());
    }
    defaults = model.geometry(0, 0, 0, ctx);
    if (defaults.size_multiple == 0 || defaults.width == 0 || defaults.height == 0 || defaults.default_steps == 0)
      throw HostError(ErrorKind::plugin, manifest.model.plugin + ": geometry() states a zero size, size multiple or "
                                                                 "step count");
  }

  // The job's size with the model's defaults filled in, checked by the model itself (its geometry).
  genplug_geometry_t job_geometry(const Job& job) const {
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
    } catch (const PluginError& e) {
      throw HostError(ErrorKind::manifest, w + ": " + std::to_string(width) + " x " + std::to_string(height) + ": " +
                                               e.what());
    }
  }
};

Pipeline::Pipeline(Manifest manifest, PipelineOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.manifest = std::move(manifest);
  m.options = std::move(options);
  m.ctx.cancel_flag(m.options.cancel);
  m.ctx.on_log([this](int32_t sev, const std::string& msg) { impl_->log(sev, msg); });

  std::vector<fs::path> extra = m.options.extra_plugin_path;
  extra.insert(extra.end(), m.manifest.plugin_path.begin(), m.manifest.plugin_path.end());
  PluginCatalog::Options co;
  co.search_path = PluginCatalog::default_search_path(extra);
  co.warn = [this](const std::string& line) { impl_->log(GENPLUG_LOG_WARNING, "skipped " + line); };
  m.catalog = std::make_unique<PluginCatalog>(std::move(co));

  // 1. Every plugin reference of every job exists, is of the right kind, and its config is valid.
  m.check_ref(m.manifest.model, "model");
  m.check_ref(m.manifest.scheduler, "scheduler");
  if (m.manifest.posenc) m.check_ref(*m.manifest.posenc, "posenc");
  for (const Job& j : m.manifest.jobs) {
    if (j.scheduler) m.check_ref(*j.scheduler, "scheduler");
    if (j.posenc) m.check_ref(*j.posenc, "posenc");
  }
  // 2. Outputs' folders can be written; their colour spaces exist.
  for (const Job& j : m.manifest.jobs) {
    check_output_folder(j.output, m.manifest.path.string() + ": " + j.where + ".output");
    m.color_of(j);
  }
  // 3. Create the shared instances; the model once for all jobs.
  auto create_where = [&](const PluginRef& r) { return m.where(r) + ".config"; };
  if (m.options.progress) m.options.progress(Progress{0, m.manifest.jobs.size(), "", "load", 0, 0, 0, 0});
  m.model = m.catalog->create_model(m.manifest.model.plugin, m.manifest.model.config, m.ctx,
                                    create_where(m.manifest.model));
  m.read_model_geometry();
  m.scheduler = m.catalog->create_scheduler(m.manifest.scheduler.plugin, m.manifest.scheduler.config, m.ctx,
                                            create_where(m.manifest.scheduler));
  if (m.manifest.posenc)
    m.posenc = m.catalog->create_posenc(m.manifest.posenc->plugin, m.manifest.posenc->config, m.ctx,
                                        create_where(*m.manifest.posenc));
  // 4. Sizes need the model's geometry; per-job LoRAs need a model that can swap them; outputs already
  // rendered from the same work item are skipped (resume: the item hash needs the model's defaults).
  for (const Job& j : m.manifest.jobs) {
    const std::string refusal = memory_refusal(m.job_geometry(j), m.options.memory_limit);
    if (!refusal.empty())
      throw HostError(ErrorKind::manifest, m.manifest.path.string() + ": " + j.where + ": " +
                                                std::to_string(j.width.value_or(m.defaults.width)) + " x " +
                                                std::to_string(j.height.value_or(m.defaults.height)) + " " + refusal);
    m.check_existing_output(j, m.manifest.path.string() + ": " + j.where + ".output");
    if (j.loras && !m.model.adapters())
      throw HostError(ErrorKind::manifest, m.manifest.path.string() + ": " + j.where + ".loras: model plugin '" +
                                               m.manifest.model.plugin + "' cannot swap LoRAs per job");
    m.check_lora_files(j);
    m.check_plate(j);
    if (j.refine) m.check_refine(j, *j.refine);
  }
}

Pipeline::~Pipeline() = default;

const Manifest& Pipeline::manifest() const { return impl_->manifest; }
const PluginCatalog& Pipeline::catalog() const { return *impl_->catalog; }
int Pipeline::model_loads() const { return impl_->catalog->instances_created("model"); }
std::string Pipeline::item_hash(const Job& job) const { return impl_->item_hash(job); }
const nlohmann::json& Pipeline::model_description() const { return impl_->description; }

std::vector<JobResult> Pipeline::run_all() {
  std::vector<JobResult> out;
  for (const Job& j : impl_->manifest.jobs) out.push_back(run(j));
  return out;
}

namespace {

// One job's render: the steps of Pipeline::run, each a member function.
struct JobRun {
  Pipeline::Impl& m;
  const Job& job;
  std::string where;  // "manifest.json: jobs[3]", for messages
  SchedulerProxy own_scheduler;  // the job's own, when it names one
  std::optional<PosencProxy> own_posenc;
  const SchedulerProxy* scheduler = nullptr;
  const PosencProxy* posenc = nullptr;  // null: the model's plain rotary encoding
  genplug_geometry_t geometry{};
  RotaryLayout layout;
  std::vector<uint32_t> extent;
  uint32_t steps = 0;
  double guidance = 0;
  JobResult result;
  Progress progress;
  std::vector<ExrLayer> layers;  // x0 predictions asked for by exr.x0_layers, in evaluation order
  std::optional<ImageRGB> plate;  // a refine pass's plate: the first pass's render (else job.init_image is read)
  const Job* item = nullptr;      // the work item (a refine pass's parent job): its hash goes in the header
  bool preview_failed = false;   // a preview that cannot be written is reported once, and the render goes on

  // Conditioning, kept for the sampling loop.
  std::vector<std::pair<std::string, ManagedTensor>> cond;
  std::vector<const char*> cond_names;
  std::vector<const DLTensor*> cond_tensors;

  // Velocity-callback state.
  HostTensorOps* ops = nullptr;
  CallContext eval_ctx;
  Clock::time_point start;
  uint64_t done = 0;
  std::string error;  // first failure inside the callback, reported by sample()
  genplug_status error_code = GENPLUG_OK;
  std::optional<ErrorKind> error_kind;  // a plugin breaking the contract (kind plugin) rather than a failed call

  JobRun(Pipeline::Impl& pipeline, const Job& j)
      : m(pipeline), job(j), where(pipeline.manifest.path.string() + ": " + j.where) {
    eval_ctx.cancel_flag(m.options.cancel);
    eval_ctx.on_log([this](int32_t sev, const std::string& msg) { m.log(sev, msg); });
    progress.job_index = job.index;
    progress.job_count = m.manifest.jobs.size();
    progress.job_name = job.name;
  }

  bool cancelled() const { return m.options.cancel && m.options.cancel->load(); }
  void stop_if_cancelled() const {
    if (cancelled()) throw HostError(ErrorKind::cancelled, where + ": cancelled");
  }
  void stage(const char* name) {
    if (!m.options.progress) return;
    progress.stage = name;
    m.options.progress(progress);
  }

  // The plugins and numbers of this job: its own scheduler/posenc, size, steps, guidance, the model's geometry.
  void settle() {
    if (job.scheduler)
      own_scheduler = m.catalog->create_scheduler(job.scheduler->plugin, job.scheduler->config, m.ctx,
                                                  m.where(*job.scheduler) + ".config");
    if (job.posenc)
      own_posenc = m.catalog->create_posenc(job.posenc->plugin, job.posenc->config, m.ctx, m.where(*job.posenc) + ".config");
    scheduler = job.scheduler ? &own_scheduler : &m.scheduler;
    posenc = job.plain_rope ? nullptr : job.posenc ? &*own_posenc : m.posenc ? &*m.posenc : nullptr;
    geometry = m.job_geometry(job);
    layout = RotaryLayout::from_geometry(geometry);
    extent.assign(geometry.target_extent, geometry.target_extent + geometry.axis_count);
    steps = job.steps.value_or(m.defaults.default_steps);
    guidance = job.guidance.value_or(m.defaults.default_guidance);
    result.output = job.output;
    result.width = geometry.width;
    result.height = geometry.height;
    result.steps = steps;
  }

  void release_conditioning() {
    cond_tensors.clear();
    cond_names.clear();
    cond.clear();
  }

  void condition() {
    m.use_job_loras(job);
    stage("condition");
    cond = m.model.condition(job.prompt, "", m.ctx);
    for (auto& [name, t] : cond) {
      cond_names.push_back(name.c_str());
      cond_tensors.push_back(&t.tensor());
    }
    stop_if_cancelled();
  }

  // A tensor a model returned in place of one like `like` (the latent): its shape, dtype and device (model.h).
  void check_like(const DLTensor& t, const DLTensor& like, const char* call, const char* what) const {
    bool ok = t.ndim == like.ndim && t.dtype.code == like.dtype.code && t.dtype.bits == like.dtype.bits &&
              t.dtype.lanes == like.dtype.lanes && t.device.device_type == like.device.device_type &&
              t.device.device_id == like.device.device_id;
    for (int i = 0; ok && i < t.ndim; ++i) ok = t.shape[i] == like.shape[i];
    if (!ok)
      throw HostError(ErrorKind::plugin, m.model.id() + ": " + call + " returned " + what + " of shape " +
                                             shape_text(t) + ", " + dlpack_text(t.dtype, t.device) + " for a latent of shape " +
                                             shape_text(like) + ", " + dlpack_text(like.dtype, like.device) +
                                             " (model.h: the latent's shape, dtype and device)");
  }

  // One model evaluation for the scheduler: spectrum, predict, and the velocity handed over without a copy.
  void evaluate(genplug_tensor_handle x, double sigma, genplug_tensor_handle v_out) {
    if (!(sigma >= 0.0 && sigma <= 1.0))  // NaN fails too
      throw HostError(ErrorKind::plugin, scheduler->id() + ": sample asked for a velocity at sigma = " +
                                             number_text(sigma) + ", outside [0, 1] (scheduler.h, model.h: sigma is the "
                                             "flow-matching time of an evaluation)");
    Spectrum spectrum;
    genplug_spectrum_t view{};
    if (posenc) {
      spectrum = posenc->compute(layout, extent, sigma, eval_ctx);
      view = spectrum.view();
    }
    genplug_tensor_list_t conditioning{};
    conditioning.struct_size = sizeof(conditioning);
    conditioning.count = static_cast<uint32_t>(cond_names.size());
    conditioning.names = cond_names.data();
    conditioning.tensors = cond_tensors.data();
    genplug_predict_args_t a{};
    a.struct_size = sizeof(a);
    a.latent = &ops->dl(x);
    a.height = result.height;
    a.width = result.width;
    a.sigma = sigma;
    a.guidance = guidance;
    a.conditioning = &conditioning;
    a.spectrum = posenc ? &view : nullptr;
    ManagedTensor velocity = m.model.predict(a, eval_ctx);
    check_like(velocity.tensor(), *a.latent, "predict", "a velocity");
    check_finite_velocity(velocity.tensor(), sigma);
    ops->adopt(v_out, std::move(velocity));
    ++done;
    capture_x0(x, sigma, v_out);
    if (m.options.progress) {
      progress.evaluation = done;
      progress.elapsed_seconds = std::chrono::duration<double>(Clock::now() - start).count();
      progress.seconds_per_evaluation = progress.elapsed_seconds / double(done);
      m.options.progress(progress);
    }
  }

  // A NaN or infinity in a velocity stays in the latent through every later step and ends as non-finite pixels:
  // the render stops at the evaluation that made it rather than hours later at the decode. Only velocities in CPU
  // memory are read (a device's are left to the check of the decoded pixels).
  void check_finite_velocity(const DLTensor& v, double sigma) const {
    if (!cpu::unsupported(v).empty()) return;
    const cpu::NonFinite bad = cpu::non_finite(v);
    if (bad.count == 0) return;
    throw HostError(ErrorKind::runtime,
                    m.model.id() + ": predict returned a velocity with " + std::to_string(bad.count) + " non-finite " +
                        (bad.count == 1 ? "value" : "values") + " (NaN/inf) of " +
                        std::to_string(cpu::element_count(v)) + " at evaluation " + std::to_string(done + 1) + " of " +
                        std::to_string(progress.evaluations) + " (sigma " + number_text(sigma) +
                        "), the first at index " + std::to_string(bad.first) + " (" +
                        non_finite_name(bad.first_value) + "); the render stops here, nothing was written");
  }

  // After evaluation `done`, when a preview or an EXR layer asks for it: the model's prediction of the final
  // latent, x0 = x - sigma v (flow matching: x = (1 - sigma) x0 + sigma noise, v = noise - x0), pictured.
  void capture_x0(genplug_tensor_handle x, double sigma, genplug_tensor_handle v) {
    const auto& wanted = job.exr.x0_layers;
    const bool layer = std::find(wanted.begin(), wanted.end(), done) != wanted.end();
    const bool preview = m.options.preview_every > 0 && done % m.options.preview_every == 0 && !preview_failed;
    if (!layer && !preview) return;
    genplug_tensor_handle x0 = ops->combine({x, v}, {1.0, -sigma});
    struct Release {
      HostTensorOps& ops;
      genplug_tensor_handle h;
      ~Release() { ops.release(h); }
    } release{*ops, x0};
    const DLTensor& latent = ops->dl(x0);
    if (preview) write_preview(latent);
    if (layer) {
      ManagedTensor image = m.model.decode(latent, result.height, result.width, eval_ctx);
      layers.push_back({layer_name(done), {int(result.width), int(result.height),
                                           planar_of(image, result.height, result.width, "decode")}});
    }
  }

  // x0_eN, N zero-padded to the digits of the job's evaluation count (x0_e03 of 12): layers sort in order.
  std::string layer_name(uint64_t evaluation) const {
    const std::string n = std::to_string(evaluation), all = std::to_string(progress.evaluations);
    return "x0_e" + std::string(all.size() > n.size() ? all.size() - n.size() : 0, '0') + n;
  }

  // The PNG beside the output: the model's quick preview when it has one, else a full decode shrunk here. A
  // preview is no output of record: whatever stops it (but a cancel) is a warning and ends the previews.
  void write_preview(const DLTensor& latent) {
    try {
      make_and_write_preview(latent);
    } catch (const PluginError& e) {
      if (e.code() == GENPLUG_E_CANCELLED) throw;
      no_more_previews(e.what());
    } catch (const HostError& e) {
      if (e.kind() == ErrorKind::cancelled) throw;
      no_more_previews(e.what());
    } catch (const std::bad_alloc&) {
      no_more_previews("out of memory");
    }
  }

  void no_more_previews(const std::string& why) {
    preview_failed = true;
    m.log(GENPLUG_LOG_WARNING, where + ": no more previews: " + why);
  }

  void make_and_write_preview(const DLTensor& latent) {
    const uint32_t side = m.options.preview_max_side;
    ImageRGB picture;
    if (m.model.has_preview()) {
      ManagedTensor image = m.model.preview(latent, result.height, result.width, side, eval_ctx);
      const DLTensor& t = image.tensor();
      const bool fits = t.ndim == 4 && t.shape[2] >= 1 && t.shape[3] >= 1 && t.shape[2] <= side && t.shape[3] <= side;
      if (!fits)
        throw HostError(ErrorKind::plugin, m.model.id() + ": preview returned an image of shape " + shape_text(t) +
                                               ", not within " + std::to_string(side) + " x " + std::to_string(side));
      picture = {int(t.shape[3]), int(t.shape[2]), planar_of(image, uint32_t(t.shape[2]), uint32_t(t.shape[3]), "preview")};
    } else {
      ManagedTensor image = m.model.decode(latent, result.height, result.width, eval_ctx);
      picture = shrink_to_fit({int(result.width), int(result.height),
                               planar_of(image, result.height, result.width, "decode")}, int(side));
    }
    write_png(preview_path(job.output), picture);
  }

  static genplug_status velocity(void* user, genplug_tensor_handle x, double sigma, genplug_tensor_handle v_out) {
    auto* r = static_cast<JobRun*>(user);
    // The first failure is the one reported; a scheduler that calls again after one gets it again, and the
    // model is not run any more.
    auto fail = [r](genplug_status code, std::string message, std::optional<ErrorKind> kind = std::nullopt) {
      if (r->error_code == GENPLUG_OK) {
        r->error_code = code;
        r->error = std::move(message);
        r->error_kind = kind;
      }
      return r->error_code;
    };
    if (r->error_code != GENPLUG_OK) return r->error_code;
    try {  // nothing may unwind through the scheduler's C frames
      if (r->cancelled()) return fail(GENPLUG_E_CANCELLED, "cancelled");
      r->evaluate(x, sigma, v_out);
      return r->cancelled() ? fail(GENPLUG_E_CANCELLED, "cancelled") : GENPLUG_OK;
    } catch (const ContractError& e) {
      return fail(e.code(), e.what(), ErrorKind::plugin);
    } catch (const HostError& e) {
      return fail(e.kind() == ErrorKind::retryable ? GENPLUG_E_OUT_OF_MEMORY : GENPLUG_E_INVALID_ARGUMENT, e.what(),
                  e.kind());
    } catch (const PluginError& e) {
      return fail(e.code(), e.what());
    } catch (const std::bad_alloc&) {
      return fail(GENPLUG_E_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception& e) {
      return fail(GENPLUG_E_FAILED, e.what());
    } catch (...) {
      return fail(GENPLUG_E_FAILED, "unknown exception in the host's velocity callback");
    }
  }

  // noise() must make the latent geometry() stated: shape, dtype and device (model.h).
  void check_latent(const DLTensor& t) const {
    const genplug_geometry_t& g = geometry;
    bool ok = t.ndim == g.latent_ndim && t.dtype.code == g.latent_dtype.code && t.dtype.bits == g.latent_dtype.bits &&
              t.dtype.lanes == g.latent_dtype.lanes && t.device.device_type == g.latent_device.device_type &&
              t.device.device_id == g.latent_device.device_id;
    for (int i = 0; ok && i < t.ndim; ++i) ok = t.shape[i] == g.latent_shape[i];
    if (!ok) {
      DLTensor stated{};
      stated.ndim = g.latent_ndim;
      stated.shape = const_cast<int64_t*>(g.latent_shape);
      throw HostError(ErrorKind::plugin, where + ": " + m.model.id() + ": noise() made a latent of shape " +
                                             shape_text(t) + ", " + dlpack_text(t.dtype, t.device) +
                                             ", but geometry() states " + shape_text(stated) + ", " +
                                             dlpack_text(g.latent_dtype, g.latent_device));
    }
  }

  // img2img: the plate, encoded by the model, and the schedule cut where diffusers' image-to-image pipelines
  // cut it (img2img_start). Strength 1 keeps the whole schedule: the plate enters with weight 1 - sigma_0 = 0
  // when the schedule starts at 1.
  ManagedTensor start_from_plate(std::vector<double>& sigmas) {
    stage("encode");
    const ImageRGB picture = plate ? adapt_plate(*plate, int(result.width), int(result.height),
                                                 parse_plate_resize(job.resize), "(the first pass's render)")
                                   : load_plate(*job.init_image, int(result.width), int(result.height),
                                                parse_plate_resize(job.resize), m.plate_color_of(job));
    const uint32_t n = uint32_t(sigmas.size() - 1);  // steps: the schedule ends at its last sigma
    const uint32_t start = img2img_start(n, job.strength);
    if (start >= n)
      throw HostError(ErrorKind::manifest, where + ".strength: " + short_number(job.strength) + " of " +
                                               std::to_string(n) + " steps leaves no step to run");
    sigmas.erase(sigmas.begin(), sigmas.begin() + std::ptrdiff_t(start));
    int64_t shape[4] = {1, 3, int64_t(result.height), int64_t(result.width)};
    DLTensor image{};
    image.data = const_cast<float*>(picture.planar.data());
    image.device = {kDLCPU, 0};
    image.ndim = 4;
    image.dtype = {kDLFloat, 32, 1};
    image.shape = shape;
    ManagedTensor latent = m.model.encode(image, m.ctx);
    DLTensor stated{};
    stated.ndim = geometry.latent_ndim;
    stated.shape = const_cast<int64_t*>(geometry.latent_shape);
    stated.dtype = geometry.latent_dtype;
    stated.device = geometry.latent_device;
    check_like(latent.tensor(), stated, "encode", "a latent");
    if (m.options.on_plate_latent) m.options.on_plate_latent(latent.tensor());
    stop_if_cancelled();
    return latent;
  }

  // The initial latent, sampled in place by the scheduler with the model's (or the host's) tensor operations.
  ManagedTensor sample() {
    ManagedTensor latent = m.model.noise(job.seed, result.height, result.width, m.ctx);
    check_latent(latent.tensor());
    if (m.options.on_initial_latent) m.options.on_initial_latent(latent.get()->dl_tensor);
    std::vector<double> sigmas = scheduler->sigmas(steps, geometry.image_tokens, m.ctx);
    std::optional<ManagedTensor> plate_latent;
    if (job.init_image || plate) plate_latent = start_from_plate(sigmas);
    progress.evaluations = scheduler->evaluation_count(static_cast<uint32_t>(sigmas.size()), m.ctx);
    for (uint32_t e : job.exr.x0_layers)
      if (e > progress.evaluations)
        throw HostError(ErrorKind::manifest, where + ": exr.x0_layers: evaluation " + std::to_string(e) +
                                                 " is beyond the " + std::to_string(progress.evaluations) +
                                                 " model evaluations of this job");

    HostTensorOps tensor_ops(m.model.raw(), m.model.tensor_ops());
    tensor_ops.on_log([this](int32_t sev, const std::string& msg) { m.log(sev, msg); });
    ops = &tensor_ops;
    genplug_tensor_handle x = tensor_ops.view(latent.tensor());
    if (plate_latent) {  // x = sigma noise + (1 - sigma) plate: the plate noised to the first sigma left
      const genplug_tensor_handle plate = tensor_ops.view(plate_latent->tensor());
      const genplug_tensor_handle in[2] = {x, plate};
      const double coeffs[2] = {sigmas.front(), 1.0 - sigmas.front()};
      const genplug_status mixed = tensor_ops.table()->linear_combination(tensor_ops.table(), x, 2, in, coeffs);
      tensor_ops.release(plate);
      if (mixed != GENPLUG_OK)
        throw HostError(ErrorKind::runtime, where + ": noising the plate: " + tensor_ops.first_failure());
    }
    genplug_sample_request_t req{};
    req.struct_size = sizeof(req);
    req.sigmas = sigmas.data();
    req.sigma_count = static_cast<uint32_t>(sigmas.size());
    req.latent = x;
    req.ops = tensor_ops.table();
    req.velocity = &JobRun::velocity;
    req.velocity_user = this;
    req.seed = job.seed;
    start = Clock::now();
    stage("sample");
    const genplug_status s = scheduler->raw()->sample(scheduler->raw(), &req, m.ctx.get());
    const int64_t leaked = tensor_ops.live_handles() - 1;  // only the latent view should be left
    const std::string ops_failure = tensor_ops.first_failure();
    tensor_ops.release(x);
    ops = nullptr;
    if (s == GENPLUG_E_CANCELLED || error_code == GENPLUG_E_CANCELLED || cancelled())
      throw HostError(ErrorKind::cancelled, where + ": cancelled");
    if (s != GENPLUG_OK || error_code != GENPLUG_OK) {  // a failed evaluation fails the job, whatever sample() says
      std::string msg = !error.empty() ? error
                                       : scheduler->id() + ": sample: " + status_name(s) +
                                             (m.ctx.error().empty() ? " (the plugin gave no message)" : ": " + m.ctx.error());
      if (!ops_failure.empty()) msg += " (the host's tensor operations failed first: " + ops_failure + ")";
      const bool oom = s == GENPLUG_E_OUT_OF_MEMORY || error_code == GENPLUG_E_OUT_OF_MEMORY;
      throw HostError(error_kind ? *error_kind : oom ? ErrorKind::retryable : ErrorKind::runtime, where + ": " + msg);
    }
    if (done == 0 && progress.evaluations > 0)  // the latent is still pure noise
      throw HostError(ErrorKind::plugin, where + ": " + scheduler->id() + ": sample() returned success without asking "
                                         "for a single velocity (count_evaluations said " +
                                         std::to_string(progress.evaluations) + ")");
    if (leaked > 0)
      m.log(GENPLUG_LOG_WARNING, scheduler->id() + ": sample() did not release " + std::to_string(leaked) +
                                     " tensor(s); freed by the host");
    result.evaluations = done;
    result.tensor_copies = tensor_ops.copies();
    if (m.options.on_final_latent) m.options.on_final_latent(latent.tensor());
    stop_if_cancelled();
    return latent;
  }

  // NaN or infinity in an image is a failed render (NaN weights or latents, an overflow in the model), not a
  // picture: nothing is written.
  void check_finite_pixels(const std::vector<float>& planar) const {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < planar.size(); ++i)
      if (!std::isfinite(planar[i]) && bad++ == 0) first = i;
    if (!bad) return;
    const size_t plane = size_t(result.width) * result.height;
    throw HostError(ErrorKind::runtime,
                    where + ": " + m.model.id() + ": the model produced non-finite pixels (NaN/inf): " +
                        std::to_string(bad) + " of " + std::to_string(planar.size()) + " values, the first at channel " +
                        std::to_string(first / plane) + ", row " + std::to_string(first % plane / result.width) +
                        ", column " + std::to_string(first % result.width) + " (" +
                        non_finite_name(planar[first]) + "); nothing was written");
  }

  // The first image of `image` (model.h's convention: CPU float32 [N, 3, height, width]) as planar RGB floats.
  std::vector<float> planar_of(const ManagedTensor& image, uint32_t height, uint32_t width, const char* call) const {
    const DLTensor& it = image.tensor();
    const bool f32_cpu = it.dtype.code == kDLFloat && it.dtype.bits == 32 && it.dtype.lanes == 1 &&
                         it.device.device_type == kDLCPU;
    if (!f32_cpu || it.ndim != 4 || it.shape[0] < 1 || it.shape[1] != 3 || it.shape[2] != height ||
        it.shape[3] != width)
      throw HostError(ErrorKind::plugin, where + ": " + m.model.id() + ": " + call + " returned an image of shape " +
                                             shape_text(it) + ", " + dlpack_text(it.dtype, it.device) + "; expected [N, 3, " +
                                             std::to_string(height) + ", " + std::to_string(width) +
                                             "], float32 cpu:0 (model.h, image convention)");
    std::vector<float> planar = to_cpu_float(it);
    planar.resize(size_t(3) * width * height);  // batch 0
    return planar;
  }

  // The image as planar RGB floats (model.h: CPU float32 [1, 3, H, W]).
  std::vector<float> decode(const ManagedTensor& latent) {
    stage("decode");
    ManagedTensor image = m.model.decode(latent.tensor(), result.height, result.width, m.ctx);
    std::vector<float> planar = planar_of(image, result.height, result.width, "decode");
    check_finite_pixels(planar);
    if (m.options.on_image) m.options.on_image(planar, result.width, result.height);
    stop_if_cancelled();
    return planar;
  }

  // What the EXR header records: every setting (numbers typed), every plugin with version and config, the job's
  // manifest, and the standard capDate / utcOffset / comments (the prompt) / owner attributes (docs/exr.md).
  ExrMetadata metadata() const {
    ExrMetadata meta;
    auto plugin_meta = [&](const char* kind, const PluginRef* ref) {
      const std::string k = std::string("genplug.") + kind;
      if (!ref) {
        meta[k] = "none";
        return;
      }
      const PluginRecord* r = m.catalog->find(ref->plugin);
      meta[k] = ref->plugin;
      meta[k + ".version"] = r ? r->version : "";
      meta[k + ".config"] = ref->config.dump();
    };
    meta["genplug.version"] = GENPLUG_VERSION;
    meta["genplug.prompt"] = job.prompt;
    // EXR has no 64-bit integer: a seed beyond int32 stays exact as text (docs/exr.md).
    if (job.seed <= uint64_t(INT32_MAX))
      meta["genplug.seed"] = int32_t(job.seed);
    else
      meta["genplug.seed"] = std::to_string(job.seed);
    meta["genplug.steps"] = int32_t(result.steps);
    meta["genplug.guidance"] = float(guidance);
    meta["genplug.width"] = int32_t(result.width);
    meta["genplug.height"] = int32_t(result.height);
    if (job.init_image || plate) meta["genplug.strength"] = float(job.strength);  // image to image, refine
    if (!job.prompt.empty()) meta["comments"] = job.prompt;
    if (!job.exr.owner.empty()) meta["owner"] = job.exr.owner;
    const CaptureDate date = capture_date(std::time(nullptr));
    meta["capDate"] = date.text;
    meta["utcOffset"] = date.utc_offset;
    plugin_meta("model", &m.manifest.model);
    plugin_meta("scheduler", &m.scheduler_ref(job));
    plugin_meta("posenc", m.posenc_ref(job));
    nlohmann::json job_manifest = m.manifest.raw;
    job_manifest["jobs"] = nlohmann::json::array({job.raw});
    meta["genplug.manifest"] = job_manifest.dump();
    meta["genplug.item.hash"] = m.item_hash(item ? *item : job);
    meta["genplug.item.index"] = int32_t(std::min<size_t>(job.index, INT32_MAX));  // EXR ints are 32-bit
    return meta;
  }

  void write(std::vector<float> planar) {
    stage("write");
    const ImageRGB img{static_cast<int>(result.width), static_cast<int>(result.height), std::move(planar)};
    const bool replace = m.overwrite(job) || m.damaged.count(job.index);
    // The model's sRGB values, and the layers', converted to the output's colour space (OCIO).
    const ColorConversion& color = m.color_of(job);
    ImageRGB converted = img;
    color.apply(converted);
    for (ExrLayer& layer : layers) color.apply(layer.image);
    try {
      ExrOptions options = exr_options(job.exr, replace, color);
      options.cancel = m.options.cancel;  // a signal stops the write too, leaving no file
      write_exr(job.output, converted, metadata(), options, layers);
    } catch (const HostError& e) {
      // Another process (an overlapping shard, a resubmitted task) finished the same item meanwhile: done.
      if (e.kind() == ErrorKind::cancelled || replace ||
          m.existing_output(item ? *item : job) != Pipeline::Impl::Existing::ours_intact)
        throw;
      result.skipped = true;
    }
    if (m.options.preview && !result.skipped) {
      try {  // the EXR is the output of record: a preview that cannot be written is a warning
        write_png(preview_path(job.output), shrink_to_fit(img, int(m.options.preview_max_side)));
      } catch (const HostError& e) {
        m.log(GENPLUG_LOG_WARNING, where + ": " + e.what());
      }
    }
  }
};

}  // namespace

JobResult Pipeline::run(const Job& job) {
  Impl& m = *impl_;
  const auto t0 = Clock::now();
  if (m.up_to_date.count(job.index)) {
    JobResult skipped;
    skipped.output = job.output;
    skipped.skipped = true;
    return skipped;
  }
  Job first_pass = job;
  if (job.refine) first_pass.exr.x0_layers.clear();  // layers and previews belong to the image that is written
  JobRun r(m, first_pass);
  std::optional<JobRun> pass;  // the refine pass, when the job has one
  try {
    if (job.refine) {  // the first pass's image, rendered again at the refine size from a plate of it
      pass.emplace(m, *job.refine);
      pass->item = &job;
      if (!job.refine->init_image) {
        r.settle();
        r.condition();
        pass->plate = ImageRGB{int(r.result.width), int(r.result.height), r.decode(r.sample())};
        r.release_conditioning();
      }
      pass->settle();
      pass->condition();
      pass->write(pass->decode(pass->sample()));
      pass->result.evaluations += r.result.evaluations;
    } else {
      r.settle();
      r.condition();
      ManagedTensor latent = r.sample();
      r.write(r.decode(latent));
    }
  } catch (const ContractError& e) {
    throw HostError(ErrorKind::plugin, r.where + ": " + e.what());
  } catch (const PluginError& e) {
    if (e.code() == GENPLUG_E_CANCELLED) throw HostError(ErrorKind::cancelled, r.where + ": cancelled");
    throw HostError(e.code() == GENPLUG_E_OUT_OF_MEMORY ? ErrorKind::retryable : ErrorKind::runtime, r.where + ": " + e.what());
  } catch (const HostError&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw HostError(ErrorKind::retryable, r.where + ": out of memory");
  } catch (const std::exception& e) {
    throw HostError(ErrorKind::runtime, r.where + ": " + e.what());
  }
  JobResult& result = pass ? pass->result : r.result;
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return result;
}

}  // namespace genplug::host
