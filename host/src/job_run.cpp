// One job's render up to the final latent: its plugins and numbers, the conditioning, the sampling loop with
// the velocity callback the scheduler calls, and img2img's plate.
#include <algorithm>
#include <optional>
#include <thread>

#include "cpu_tensor_math.hpp"
#include "job_run.hpp"
#include "message_text.hpp"

namespace genplug::host {
namespace {

// The item's place among the jobs the pipeline runs, which are in order of index: a shard's are every N-th item,
// so its third is "job 3/5" however far into the manifest it lies. An item that is not among them keeps its index.
size_t position_of(const std::vector<Job>& jobs, size_t index) {
  const auto at = std::lower_bound(jobs.begin(), jobs.end(), index, [](const Job& j, size_t i) { return j.index < i; });
  return at != jobs.end() && at->index == index ? size_t(at - jobs.begin()) : index;
}

}  // namespace

JobRun::JobRun(Pipeline::Impl& pipeline, const Job& j)
    : m(pipeline), job(j), where(pipeline.manifest.path.string() + ": " + j.where) {
  eval_ctx.cancel_flag(m.options.cancel);
  eval_ctx.on_log([this](int32_t sev, const std::string& msg) { m.log(sev, msg); });
  progress.job_index = position_of(m.manifest.jobs, job.index);
  progress.job_count = m.manifest.jobs.size();
  progress.job_name = job.name;
}

// The plugins and numbers of this job: its own scheduler/posenc, size, steps, guidance, the model's geometry.
void JobRun::settle() {
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

void JobRun::release_conditioning() {
  cond_tensors.clear();
  cond_names.clear();
  cond.clear();
}

void JobRun::condition() {
  try {
    m.use_job_loras(job);
  } catch (const PluginError& e) {
    // A LoRA the model cannot take (a module it lacks, shapes, NaN factors) is the manifest's, as in the model's
    // config.loras at create: exit 3, not a failure of the model's.
    if (e.code() == GENPLUG_E_CONFIG) throw HostError(ErrorKind::manifest, where + ": " + e.what());
    throw;
  }
  stage("condition");
  cond = m.model.condition(job.prompt, "", m.ctx);
  for (auto& [name, t] : cond) {
    cond_names.push_back(name.c_str());
    cond_tensors.push_back(&t.tensor());
  }
  stop_if_cancelled();
}

// A tensor a model returned in place of one like `like` (the latent): its shape, dtype and device (model.h).
void JobRun::check_like(const DLTensor& t, const DLTensor& like, const char* call, const char* what) const {
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
void JobRun::evaluate(genplug_tensor_handle x, double sigma, genplug_tensor_handle v_out) {
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
  if (m.options.progress) {  // the item's: a refine job's first pass counts in its second
    progress.evaluation = evaluations_before + done;
    progress.elapsed_seconds =
        seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    progress.seconds_per_evaluation = progress.elapsed_seconds / double(progress.evaluation);
    progress.step = true;
    m.options.progress(progress);
  }
}

// A NaN or infinity in a velocity stays in the latent through every later step and ends as non-finite pixels:
// the render stops at the evaluation that made it rather than hours later at the decode. Only velocities in CPU
// memory are read (a device's are left to the check of the decoded pixels).
void JobRun::check_finite_velocity(const DLTensor& v, double sigma) const {
  if (!cpu::unsupported(v).empty()) return;
  const cpu::NonFinite bad = cpu::non_finite(v);
  if (bad.count == 0) return;
  throw HostError(ErrorKind::runtime,
                  m.model.id() + ": predict returned a velocity with " + std::to_string(bad.count) + " non-finite " +
                      (bad.count == 1 ? "value" : "values") + " (NaN/inf) of " +
                      std::to_string(cpu::element_count(v)) + " at evaluation " + std::to_string(done + 1) + " of " +
                      std::to_string(own_evaluations) + " (sigma " + number_text(sigma) +
                      "), the first at index " + std::to_string(bad.first) + " (" +
                      non_finite_name(bad.first_value) + "); the render stops here, nothing was written" +
                      lora_hint());
}

// Where LoRAs are merged, the likeliest cause of a non-finite velocity from a model that renders without them:
// factors or a strength so large that the forward overflows though every merged weight is finite.
std::string JobRun::lora_hint() const {
  const auto& own = m.manifest.model.config;  // a job's loras replace these
  const bool merged = job.loras ? !job.loras->empty() : own.is_object() && own.contains("loras") && !own["loras"].empty();
  if (!merged) return "";
  return std::string(". LoRAs are merged (") + (job.loras ? job.where + ".loras" : "model.config.loras") +
         "): a factor or strength too large for the model overflows its forward; render without them to tell";
}

genplug_status JobRun::velocity(void* user, genplug_tensor_handle x, double sigma, genplug_tensor_handle v_out) {
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
  if (std::this_thread::get_id() != r->sampling_thread.load()) {  // [thread: caller]: counted, nothing else touched
    ++r->foreign_velocity_calls;
    return GENPLUG_E_INVALID_ARGUMENT;
  }
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

// The velocity callback and the tensor operations are [thread: caller] (scheduler.h): called from another thread,
// they would run the model and the posenc plugin concurrently with the render, which their own labels forbid.
void JobRun::check_sample_threads(const HostTensorOps& tensor_ops) const {
  const int64_t velocity = foreign_velocity_calls.load(), table = tensor_ops.foreign_thread_calls();
  if (velocity == 0 && table == 0) return;
  throw HostError(ErrorKind::plugin,
                  where + ": " + scheduler->id() + ": sample() called " +
                      (velocity ? "the velocity callback " + std::to_string(velocity) + " time(s)" : "") +
                      (velocity && table ? " and " : "") +
                      (table ? "the tensor operations " + std::to_string(table) + " time(s)" : "") +
                      " from a thread other than its own (scheduler.h: [thread: caller]); refused");
}

// GENPLUG_E_CANCELLED is the answer to the host's request only (status.h): on its own it would pass for the
// user's cancel, exit 130, which a farm retries.
void JobRun::check_cancel_asked(genplug_status s) const {
  if (s != GENPLUG_E_CANCELLED || error_code != GENPLUG_OK || cancelled()) return;
  throw HostError(ErrorKind::plugin, where + ": " + scheduler->id() +
                                         ": sample returned GENPLUG_E_CANCELLED, but the host asked nothing to stop" +
                                         (m.ctx.error().empty() ? "" : ": " + m.ctx.error()));
}

// noise() must make the latent geometry() stated: shape, dtype and device (model.h).
void JobRun::check_latent(const DLTensor& t) const {
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

// The model evaluations this pass will make (after settle()): the scheduler's count for its schedule, cut for a
// plate as start_from_plate cuts it. A refine job's first pass counts them into the item's progress.
uint64_t JobRun::planned_evaluations() const {
  std::vector<double> sigmas = scheduler->sigmas(steps, geometry.image_tokens, m.ctx);
  if (job.init_image || job.refine_pass || plate) sigmas = plate_schedule(std::move(sigmas), job.strength);
  return scheduler->evaluation_count(uint32_t(sigmas.size()), m.ctx);
}

// A refine job's second pass, after the first: its progress goes on from the first's.
void JobRun::continue_from(const JobRun& first_pass) {
  evaluations_before = first_pass.done;
  seconds_before = first_pass.done ? std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                                   first_pass.start).count()
                                   : 0.0;
  progress.evaluation = evaluations_before;
  progress.evaluations = first_pass.progress.evaluations;
}

// img2img: the plate, encoded by the model, and the schedule cut where diffusers' image-to-image pipelines
// cut it (img2img_start). Strength 1 keeps the whole schedule: the plate enters with weight 1 - sigma_0 = 0
// when the schedule starts at 1.
ManagedTensor JobRun::start_from_plate(std::vector<double>& sigmas) {
  stage("encode");
  ImageRGB picture;
  try {
    picture = plate ? adapt_plate(*plate, int(result.width), int(result.height), parse_plate_resize(job.resize),
                                  "(the first pass's render)")
                    : load_plate(*job.init_image, int(result.width), int(result.height),
                                 parse_plate_resize(job.resize), m.plate_color_of(job));
  } catch (const HostError& e) {  // name the manifest field, as the checks before the jobs do
    if (e.kind() != ErrorKind::manifest) throw;
    throw HostError(ErrorKind::manifest, where + (job.refine_pass ? ".plate: " : ".init_image: ") + e.what());
  }
  const uint32_t n = uint32_t(sigmas.size() - 1);  // steps: the schedule ends at its last sigma
  const uint32_t start = img2img_start(n, job.strength);
  if (start >= n)
    throw HostError(ErrorKind::manifest, where + ".strength: " + short_number(job.strength) + " of " +
                                             std::to_string(n) + " steps leaves no step to run");
  sigmas = plate_schedule(std::move(sigmas), job.strength);
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

// The scheduler's evaluation count for these sigmas, into the progress; the EXR's x0 layers must lie within it.
void JobRun::count_own_evaluations(const std::vector<double>& sigmas) {
  own_evaluations = scheduler->evaluation_count(static_cast<uint32_t>(sigmas.size()), m.ctx);
  progress.evaluations = evaluations_before + own_evaluations + evaluations_after;
  for (uint32_t e : job.exr.x0_layers)
    if (e > own_evaluations)
      throw HostError(ErrorKind::manifest, where + ": exr.x0_layers: evaluation " + std::to_string(e) +
                                               " is beyond the " + std::to_string(own_evaluations) +
                                               " model evaluations of this job");
}

// x = sigma0 x + (1 - sigma0) plate: the plate noised to the first sigma left (x holds the noise).
void JobRun::noise_plate_into(HostTensorOps& tensor_ops, genplug_tensor_handle x, const ManagedTensor& plate_latent,
                              double sigma0) {
  const genplug_tensor_handle plate = tensor_ops.view(plate_latent.tensor());
  const genplug_tensor_handle in[2] = {x, plate};
  const double coeffs[2] = {sigma0, 1.0 - sigma0};
  const genplug_status mixed = tensor_ops.table()->linear_combination(tensor_ops.table(), x, 2, in, coeffs);
  tensor_ops.release(plate);
  if (mixed != GENPLUG_OK)
    throw HostError(ErrorKind::runtime, where + ": noising the plate: " + tensor_ops.first_failure());
}

// What sample() returned, against what the velocity callback saw: cancelled, a failed evaluation (whatever sample()
// says), success without a single evaluation, tensors left unreleased (a warning).
void JobRun::check_sample_outcome(genplug_status s, const std::string& ops_failure, int64_t leaked) const {
  check_cancel_asked(s);
  // A scheduler may pass on a failed evaluation as GENPLUG_E_CANCELLED: that failure is reported below.
  if (cancelled() || error_code == GENPLUG_E_CANCELLED || (s == GENPLUG_E_CANCELLED && error_code == GENPLUG_OK))
    throw HostError(ErrorKind::cancelled, where + ": cancelled");
  if (s != GENPLUG_OK || error_code != GENPLUG_OK) {
    std::string msg = !error.empty() ? error
                                     : scheduler->id() + ": sample: " + status_name(s) +
                                           (m.ctx.error().empty() ? " (the plugin gave no message)" : ": " + m.ctx.error());
    if (!ops_failure.empty()) msg += " (the host's tensor operations failed first: " + ops_failure + ")";
    const bool oom = s == GENPLUG_E_OUT_OF_MEMORY || error_code == GENPLUG_E_OUT_OF_MEMORY;
    throw HostError(error_kind ? *error_kind : oom ? ErrorKind::retryable : ErrorKind::runtime, where + ": " + msg);
  }
  if (done == 0 && own_evaluations > 0)  // the latent is still pure noise
    throw HostError(ErrorKind::plugin, where + ": " + scheduler->id() + ": sample() returned success without asking "
                                       "for a single velocity (count_evaluations said " +
                                       std::to_string(own_evaluations) + ")");
  if (leaked > 0)
    m.log(GENPLUG_LOG_WARNING, scheduler->id() + ": sample() did not release " + std::to_string(leaked) +
                                   " tensor(s); freed by the host");
}

// The initial latent, sampled in place by the scheduler with the model's (or the host's) tensor operations.
ManagedTensor JobRun::sample() {
  ManagedTensor latent = m.model.noise(job.seed, result.height, result.width, m.ctx);
  check_latent(latent.tensor());
  if (m.options.on_initial_latent) m.options.on_initial_latent(latent.get()->dl_tensor);
  std::vector<double> sigmas = scheduler->sigmas(steps, geometry.image_tokens, m.ctx);
  std::optional<ManagedTensor> plate_latent;
  if (job.init_image || plate) plate_latent = start_from_plate(sigmas);
  count_own_evaluations(sigmas);

  HostTensorOps tensor_ops(m.model.raw(), m.model.tensor_ops());
  tensor_ops.on_log([this](int32_t sev, const std::string& msg) { m.log(sev, msg); });
  ops = &tensor_ops;
  genplug_tensor_handle x = tensor_ops.view(latent.tensor());
  if (plate_latent) noise_plate_into(tensor_ops, x, *plate_latent, sigmas.front());
  genplug_sample_request_t req{};
  req.struct_size = sizeof(req);
  req.sigmas = sigmas.data();
  req.sigma_count = static_cast<uint32_t>(sigmas.size());
  req.latent = x;
  req.ops = tensor_ops.table();
  req.velocity = &JobRun::velocity;
  req.velocity_user = this;
  req.seed = job.seed;
  start = std::chrono::steady_clock::now();
  stage("sample");
  sampling_thread.store(std::this_thread::get_id());
  tensor_ops.serve_only_this_thread();
  const genplug_status s = scheduler->raw()->sample(scheduler->raw(), &req, m.ctx.get());
  sampling_thread.store(std::thread::id());
  const int64_t leaked = tensor_ops.live_handles() - 1;  // only the latent view should be left
  const std::string ops_failure = tensor_ops.first_failure();
  tensor_ops.release(x);
  ops = nullptr;
  check_sample_threads(tensor_ops);
  check_sample_outcome(s, ops_failure, leaked);
  result.evaluations = done;
  result.tensor_copies = tensor_ops.copies();
  if (m.options.on_final_latent) m.options.on_final_latent(latent.tensor());
  stop_if_cancelled();
  return latent;
}

}  // namespace genplug::host
