// Pipeline's state shared by all jobs: the plugins, the model's geometry, what resume found, the colour
// conversions. Its members are defined by concern:
//   pipeline.cpp          the steps before any job runs, in order (checks, then the plugins created, then the
//                         checks that need the model)
//   pipeline_checks.cpp   what is checked before any job runs (plugin references, sizes, plates, LoRA files,
//                         each job's schedule and spectra)
//   item_identity.cpp     what a work item is (its hash) and whether its output is already there (resume)
//   output_colors.cpp     the OCIO conversions of outputs and plates, made once per config and colour space
// One job's render is job_run.hpp's.
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include <genplug/host.hpp>
#include <genplug/host/color_management.hpp>
#include <genplug/host/errors.hpp>
#include <genplug/host/memory_budget.hpp>
#include <genplug/host/pipeline.hpp>

#include "fnv1a.hpp"

namespace genplug::host {

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
  std::set<size_t> render_again;  // work items whose own output is damaged or stored otherwise: replaced
  std::set<std::filesystem::path> unwritable_folders;  // output folders that cannot take a file (checks, 2.)
  std::set<std::filesystem::path> plates_decoded;  // plates read whole by the checks (resolved paths)
  std::string active_loras = "null";  // the adapters set on the model: "null" is its own (config.loras)
  std::set<std::string> loras_checked;  // the LoRA lists (as set_adapters takes them) the model has checked
  std::map<std::pair<std::string, std::string>, ColorConversion> colors;        // by (OCIO config, colour space)
  std::map<std::pair<std::string, std::string>, ColorConversion> plate_colors;  // the other way

  // pipeline.cpp: the constructor's steps, in order
  void stop_if_cancelled(const Job& job) const;
  void check_plugin_refs() const;
  void check_output_folders();
  void create_plugins();
  void check_jobs();

  // pipeline_checks.cpp
  void check_ref(const PluginRef& ref, const char* kind) const;
  std::string known_text(const char* kind) const;
  void read_model_geometry();
  genplug_geometry_t job_geometry(const Job& job) const;
  void check_plate_colorspace_applies(const Job& job) const;
  void check_plate(const Job& job);
  void check_refine(const Job& job, const Job& pass);
  void check_lora_files(const Job& job);
  void warn_ignored_settings(const Job& job) const;
  void check_output_paths() const;
  std::optional<std::filesystem::path> unwritable_output(const Job& job) const;
  void rehearse_schedule(const Job& job, std::set<std::string>& rehearsed);
  void warn_unused_scheduler_steps(const Job& job);
  // pipeline.cpp
  void check_job_memory(const Job& job, std::map<std::pair<uint32_t, uint32_t>, MemoryVerdict>& verdicts);

  // item_identity.cpp
  enum class LoraIdentity { resolved, as_written };
  std::string item_hash(const Job& job) const;
  std::string item_hash(const Job& job, LoraIdentity loras) const;
  nlohmann::json plugin_identity(const PluginRef* ref) const;
  nlohmann::json normalised_loras(const Job& job, LoraIdentity identity) const;
  // What is at an existing output path: this work item's render, intact, damaged (its pixels no longer match
  // their hash) or stored with other values than the job would store (a lossy compression on either side, and
  // another one), another render or file, or something that is no readable EXR.
  enum class Existing { ours_intact, ours_damaged, ours_stored_otherwise, foreign, unreadable };
  Existing existing_output(const Job& job) const;
  static bool stored_otherwise(const Job& job);
  // What an existing output is where that is known without the model: no readable EXR, or one without an item
  // hash (foreign to every work item); nullopt where only the item hash can tell.
  static std::optional<Existing> existing_without_model(const std::filesystem::path& output);
  static const char* existing_text(Existing e);  // "is this item's render but damaged", ...
  std::optional<HostError> check_existing_output(const Job& job, const std::string& where);

  // output_colors.cpp
  std::filesystem::path ocio_config_of(const Job& job) const;
  HostError ocio_config_error(const Job& job, const HostError& e) const;
  const ColorConversion& color_of(const Job& job);
  const ColorConversion* plate_color_of(const Job& job);
  // An up-to-date output's missing PNG preview, made from the EXR (read back, converted to sRGB): a warning when
  // that fails, as for any preview.
  void restore_missing_preview(const Job& job);

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
  bool overwrite(const Job& job) const { return job.exr.overwrite || options.overwrite; }
  bool previews() const { return options.preview || options.preview_every > 0; }
  std::string where(const PluginRef& ref) const { return manifest.path.string() + ": " + ref.where; }
  // A warning the checks gave is not given again: they rehearse each job's schedule, which the job then computes
  // again (flowmatch's zero-length steps). A job's own warnings (a prompt's tokens dropped) are all given, since
  // they need not name the job. Remembered by hash (fnv1a.hpp), under a lock: plugins may log from any thread.
  void log(int32_t severity, const std::string& m) const {
    if (!options.log) return;
    if (severity == GENPLUG_LOG_WARNING) {
      std::lock_guard<std::mutex> lock(warned_mutex);
      const uint64_t key = Fnv1a().add(m).value();
      if (checked ? warned_in_checks.count(key) != 0 : !warned_in_checks.insert(key).second) return;
    }
    options.log(severity, m);
  }
  bool checked = false;  // the checks before the jobs are done
  mutable std::mutex warned_mutex;
  mutable std::set<uint64_t> warned_in_checks;
};

// Why an output's folder cannot take it, if it cannot, and that as the error of the output at `where`
// (pipeline_checks.cpp).
std::optional<HostError> output_folder_problem(const std::filesystem::path& out);
HostError output_folder_error(const std::filesystem::path& out, const std::string& where);
// Why a file cannot be written at `file` whatever its folder allows, if it cannot: a name longer than NAME_MAX, a
// dangling link, or something there that is no regular file (a folder, a FIFO, a device) (pipeline_checks.cpp).
std::optional<std::string> file_cannot_be_written(const std::filesystem::path& file);

}  // namespace genplug::host
