// Pipeline: the checks in order before anything is created or written, then each job's render (JobRun).
#include <genplug/host/pipeline.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include <genplug/host/errors.hpp>
#include <genplug/host/memory_budget.hpp>
#include <genplug/host/png_writer.hpp>

#include "atomic_output.hpp"
#include "job_run.hpp"
#include "pipeline_impl.hpp"

namespace genplug::host {
namespace fs = std::filesystem;

// A signal during the checks (a batch of a million items takes tens of seconds) stops them as it stops a render;
// the message is built only then (this runs once per item).
void Pipeline::Impl::stop_if_cancelled(const Job& job) const {
  if (options.cancel && options.cancel->load())
    throw HostError(ErrorKind::cancelled, manifest.path.string() + ": " + job.where + ": cancelled before rendering");
}

// 1. Every plugin reference of every job exists, is of the right kind, and its config is valid.
void Pipeline::Impl::check_plugin_refs() const {
  check_ref(manifest.model, "model");
  check_ref(manifest.scheduler, "scheduler");
  if (manifest.posenc) check_ref(*manifest.posenc, "posenc");
  size_t seen = 0;  // items checked: a signal is looked for every 1024 (a shard's indices need not be)
  for (const Job& j : manifest.jobs) {
    if (seen++ % 1024 == 0) stop_if_cancelled(j);
    if (j.scheduler) check_ref(*j.scheduler, "scheduler");
    if (j.posenc) check_ref(*j.posenc, "posenc");
  }
}

// 2. Outputs' folders can be written (each folder once: a batch's items share a few; a linked output's is the
// folder of the file it names, written through the link), and so can previews' (beside the output's own name:
// another folder when the output is a link); their colour spaces exist; outputs and previews replace no input.
// An output that exists may be up to date, which is known once the model is there (4.): an unwritable folder is
// then its error only if it is rendered again (resume from a read-only archive).
void Pipeline::Impl::check_output_folders() {
  std::set<fs::path> folders_checked;
  // An output that no item hash could match (no readable EXR, or one without a hash) will be rendered: its
  // folder's error too, told before the model loads rather than after.
  auto check_folder = [&](const Job& j, const fs::path& out, const auto& where) {
    const fs::path folder = written_path(out).parent_path();
    if (folders_checked.insert(folder).second && output_folder_problem(out)) unwritable_folders.insert(folder);
    if (!unwritable_folders.count(folder)) return;
    std::error_code ec;
    if (overwrite(j) || !fs::is_regular_file(j.output, ec)) throw output_folder_error(out, where());
    if (const auto existing = existing_without_model(j.output)) {
      const HostError e = output_folder_error(out, where());
      throw HostError(e.kind(), std::string(e.what()) + " (the output " + existing_text(*existing) + ")");
    }
  };
  size_t seen = 0;
  for (const Job& j : manifest.jobs) {
    auto where = [&] { return manifest.path.string() + ": " + j.where + ".output"; };
    if (seen++ % 1024 == 0) stop_if_cancelled(j);
    check_folder(j, j.output, where);
    if (previews()) {
      const fs::path preview = preview_path(j.output);
      check_folder(j, preview, [&] { return where() + " (its PNG preview)"; });
      // Its name and what is there now, as the output's (check_existing_output): found after the render, it had
      // cost the preview with a warning only.
      if (const auto why = file_cannot_be_written(preview))
        throw HostError(ErrorKind::output, where() + " (its PNG preview): " + *why);
    }
    color_of(j);
  }
  check_output_paths();
}

// 3. Create the shared instances; the model once for all jobs. Not under a ulimit -v that cannot take what the
// model's libraries map when they first run: their threads, once started, may never end (memory_budget.hpp).
void Pipeline::Impl::create_plugins() {
  if (options.memory_limit.value_or(1) != 0)  // --memory-limit off lifts it
    if (const std::string why = address_space_refusal(0); !why.empty())
      throw HostError(ErrorKind::manifest, where(manifest.model) + ": loading the model " + why);
  auto create_where = [&](const PluginRef& r) { return where(r) + ".config"; };
  if (options.progress) options.progress(Progress{0, manifest.jobs.size(), "", "load", 0, 0, 0, 0});
  model = catalog->create_model(manifest.model.plugin, manifest.model.config, ctx, create_where(manifest.model));
  read_model_geometry();
  scheduler = catalog->create_scheduler(manifest.scheduler.plugin, manifest.scheduler.config, ctx,
                                        create_where(manifest.scheduler));
  if (manifest.posenc)
    posenc = catalog->create_posenc(manifest.posenc->plugin, manifest.posenc->config, ctx,
                                    create_where(*manifest.posenc));
}

// 4. Sizes need the model's geometry; per-job LoRAs need a model that can swap them; outputs already rendered
// from the same work item are skipped (resume: the item hash needs the model's defaults); each job's schedule and
// spectra are computed once (rehearsed) with the plugins that will make them.
void Pipeline::Impl::check_jobs() {
  std::set<std::string> rehearsed;
  std::map<std::pair<uint32_t, uint32_t>, MemoryVerdict> refusals;  // by size: the memory available read once each
  std::set<std::tuple<size_t, std::string, std::string>> steps_probed;  // (manifest job, scheduler, its config)
  for (const Job& j : manifest.jobs) {
    stop_if_cancelled(j);  // a plate's decode can take seconds
    // An item up to date (resume) will not render: what it would need is not asked.
    const std::optional<HostError> refused_output =
        check_existing_output(j, manifest.path.string() + ": " + j.where + ".output");
    if (up_to_date.count(j.index)) continue;
    warn_ignored_settings(j);
    // Of one job's problems, what no --force mends comes first (exit 3: its size, a memory limit it cannot render
    // under, its inputs, its refine pass, its schedule), then an existing output of another item (6), then a
    // shortage a retry may meet (75), which each check's own may be: held back until the others have run.
    std::optional<HostError> retryable;
    const auto hold = [&](const auto& check) {
      try {
        check();
      } catch (const HostError& e) {
        if (e.kind() != ErrorKind::retryable) throw;
        if (!retryable) retryable = e;
      }
    };
    hold([&] { check_job_memory(j, refusals); });
    if (j.loras && !model.adapters())
      throw HostError(ErrorKind::manifest, manifest.path.string() + ": " + j.where + ".loras: model plugin '" +
                                               manifest.model.plugin + "' cannot swap LoRAs per job");
    hold([&] { check_lora_files(j); });
    hold([&] { check_plate(j); });
    hold([&] { rehearse_schedule(j, rehearsed); });
    // Once per manifest job and scheduler (a wedge gives one job several), after the rehearsal: a custom list of
    // another length is an error there, not also a warning here.
    const PluginRef& s = scheduler_ref(j);
    if (!j.steps && steps_probed.insert({j.job, s.plugin, s.config.dump()}).second) warn_unused_scheduler_steps(j);
    if (j.refine) {
      hold([&] { check_refine(j, *j.refine); });
      hold([&] { rehearse_schedule(*j.refine, rehearsed); });
    }
    if (refused_output) throw *refused_output;
    if (retryable) throw *retryable;
  }
}

// The memory a job of its size needs, against the limit or what is available: read once per size.
void Pipeline::Impl::check_job_memory(const Job& j,
                                      std::map<std::pair<uint32_t, uint32_t>, MemoryVerdict>& verdicts) {
  const auto size = std::make_pair(j.width.value_or(defaults.width), j.height.value_or(defaults.height));
  auto found = verdicts.find(size);
  if (found == verdicts.end())
    found = verdicts.emplace(size, memory_verdict(job_geometry(j), options.memory_limit)).first;
  const MemoryVerdict& verdict = found->second;
  if (!verdict.refusal.empty())  // a shortage a retry may meet: exit 75; the rest need a change: exit 3
    throw HostError(verdict.retryable ? ErrorKind::retryable : ErrorKind::manifest,
                    manifest.path.string() + ": " + j.where + ": " + std::to_string(size.first) + " x " +
                        std::to_string(size.second) + " " + verdict.refusal);
}

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

  m.check_plugin_refs();
  m.check_output_folders();
  m.create_plugins();
  m.check_jobs();
  m.checked = true;  // from here on, a warning the checks gave is not given again (Impl::log)
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

JobResult Pipeline::run(const Job& job) {
  Impl& m = *impl_;
  const auto t0 = std::chrono::steady_clock::now();
  if (m.up_to_date.count(job.index)) {
    m.restore_missing_preview(job);
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
      pass->settle();
      if (!job.refine->init_image) {
        r.settle();
        r.evaluations_after = pass->planned_evaluations();  // the progress reported is the item's
        r.condition();
        pass->plate = ImageRGB{int(r.result.width), int(r.result.height), r.decode(r.sample())};
        r.release_conditioning();
        pass->continue_from(r);
      }
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
    throw HostError(ErrorKind::retryable, r.where + ": " + out_of_memory_text());
  } catch (const std::exception& e) {
    throw HostError(ErrorKind::runtime, r.where + ": " + e.what());
  }
  JobResult& result = pass ? pass->result : r.result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace genplug::host
