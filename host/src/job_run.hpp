// One job's render, the steps of Pipeline::run, each a member function:
//   job_run.cpp      settle the job's plugins and numbers, condition, sample (the velocity callback), img2img
//   job_output.cpp   decode, the x0 layers and previews, the EXR header, write
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <genplug/host.hpp>
#include <genplug/host/errors.hpp>
#include <genplug/host/exr_writer.hpp>
#include <genplug/host/plate.hpp>
#include <genplug/host/tensor_ops.hpp>

#include "pipeline_impl.hpp"

namespace genplug::host {

// One job's render (Pipeline::run makes one per pass).
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
  // A refine job's passes report the item's progress: the evaluations of the pass before this one (made) and of
  // the pass after it (planned), and the seconds the one before sampled. own_evaluations: this pass's count.
  uint64_t evaluations_before = 0, evaluations_after = 0, own_evaluations = 0;
  double seconds_before = 0;
  bool preview_failed = false;   // a preview that cannot be written is reported once, and the render goes on

  // Conditioning, kept for the sampling loop.
  std::vector<std::pair<std::string, ManagedTensor>> cond;
  std::vector<const char*> cond_names;
  std::vector<const DLTensor*> cond_tensors;

  // Velocity-callback state.
  HostTensorOps* ops = nullptr;
  CallContext eval_ctx;
  std::chrono::steady_clock::time_point start;
  uint64_t done = 0;
  std::string error;  // first failure inside the callback, reported by sample()
  genplug_status error_code = GENPLUG_OK;
  std::optional<ErrorKind> error_kind;  // a plugin breaking the contract (kind plugin) rather than a failed call
  std::atomic<std::thread::id> sampling_thread{};  // the thread running sample(): the only one velocity serves
  std::atomic<int64_t> foreign_velocity_calls{0};

  JobRun(Pipeline::Impl& pipeline, const Job& j);

  bool cancelled() const { return m.options.cancel && m.options.cancel->load(); }
  void stop_if_cancelled() const {
    if (cancelled()) throw HostError(ErrorKind::cancelled, where + ": cancelled");
  }
  void stage(const char* name) {
    if (!m.options.progress) return;
    progress.stage = name;
    progress.step = false;
    m.options.progress(progress);
  }

  // job_run.cpp
  void settle();
  void condition();
  void release_conditioning();
  ManagedTensor sample();
  void count_own_evaluations(const std::vector<double>& sigmas);
  void noise_plate_into(HostTensorOps& tensor_ops, genplug_tensor_handle x, const ManagedTensor& plate_latent,
                        double sigma0);
  void check_sample_outcome(genplug_status s, const std::string& ops_failure, int64_t leaked) const;
  uint64_t planned_evaluations() const;
  void continue_from(const JobRun& first_pass);
  ManagedTensor start_from_plate(std::vector<double>& sigmas);
  static genplug_status velocity(void* user, genplug_tensor_handle x, double sigma, genplug_tensor_handle v_out);
  void evaluate(genplug_tensor_handle x, double sigma, genplug_tensor_handle v_out);
  void check_latent(const DLTensor& t) const;
  void check_like(const DLTensor& t, const DLTensor& like, const char* call, const char* what) const;
  void check_finite_velocity(const DLTensor& v, double sigma) const;
  void check_sample_threads(const HostTensorOps& tensor_ops) const;
  void check_cancel_asked(genplug_status s) const;
  std::string lora_hint() const;

  // job_output.cpp
  std::vector<float> decode(const ManagedTensor& latent);
  std::vector<float> planar_of(const ManagedTensor& image, uint32_t height, uint32_t width, const char* call) const;
  void check_finite_pixels(const std::vector<float>& planar) const;
  std::string unstorable(const ImageRGB& image, const std::string& what, const ColorConversion& color) const;
  void capture_x0(genplug_tensor_handle x, double sigma, genplug_tensor_handle v);
  std::string layer_name(uint64_t evaluation) const;
  void write_preview(const DLTensor& latent);
  void make_and_write_preview(const DLTensor& latent);
  void no_more_previews(const std::string& why);
  std::string remove_stale_preview() const;
  ExrMetadata metadata() const;
  void write(std::vector<float> planar);
};

}  // namespace genplug::host
