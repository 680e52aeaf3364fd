// genplug host — runs a manifest's jobs through the three plugin kinds: conditioning, noise, the sampling
// loop (the scheduler drives; every model evaluation first asks the posenc plugin for its spectrum), decode,
// and an EXR. The model is created once and kept for every job. Embedding hosts use this class directly
// (docs/host.md).
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <genplug/genplug.h>

#include "manifest.hpp"
#include "plugin_catalog.hpp"

namespace genplug::host {

struct Progress {
  // The item's place among the manifest's jobs as the pipeline holds them (0-based; under a shard, among the
  // shard's), and their count; Job::index is its index in the whole manifest.
  size_t job_index = 0, job_count = 0;
  std::string job_name;
  std::string stage;              // "load", "condition", "sample", "decode", "write"
  uint64_t evaluation = 0, evaluations = 0;  // the item's: a refine job's two passes count as one
  double elapsed_seconds = 0;     // in this job
  double seconds_per_evaluation = 0;
  // True when this call reports a model evaluation that just finished; false when it reports a stage that begins
  // (which repeats the evaluation count so far: a refine job's second pass starts at the first pass's last).
  bool step = false;
};

struct PipelineOptions {
  bool overwrite = false;                 // --force: replace existing outputs
  // Working memory a job may need (the model's estimate, checked before any job runs): nullopt = what the
  // CPU has available (device models are not checked then), 0 = no check.
  std::optional<uint64_t> memory_limit;
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(const Progress&)> progress;
  std::function<void(int32_t severity, const std::string&)> log;
  std::vector<std::filesystem::path> extra_plugin_path;  // searched before the manifest's and the defaults
  // PNG previews at preview_path(output) (png_writer.hpp), replaced as they are written: `preview` writes the
  // final image's after its EXR; preview_every N > 0 also writes the model's current prediction of the final
  // image (x0) after every N-th model evaluation, within preview_max_side pixels, by the model's quick preview
  // (GENPLUG_EXT_MODEL_PREVIEW) when it has one, else by a full decode shrunk on the host.
  bool preview = false;
  uint32_t preview_every = 0;
  uint32_t preview_max_side = 1024;
  // Hooks for embedding hosts and tests: the latent after noise() (writable: replace it to inject your own),
  // the final latent before decode, and the decoded image (planar RGB, sRGB-encoded).
  std::function<void(DLTensor& latent)> on_initial_latent;
  std::function<void(const DLTensor& latent)> on_final_latent;
  std::function<void(const DLTensor& latent)> on_plate_latent;  // img2img: the model's encoding of the plate
  std::function<void(const std::vector<float>& planar_rgb, uint32_t width, uint32_t height)> on_image;
};

struct JobResult {
  std::filesystem::path output;
  bool skipped = false;  // the output was already there, rendered from the same work item (resume)
  uint32_t width = 0, height = 0, steps = 0;
  uint64_t evaluations = 0;
  int64_t tensor_copies = 0;  // latent/velocity copies the host made while sampling (0: tensors stayed put)
  double seconds = 0;
};

class Pipeline {
 public:
  // Finds the plugins, validates every plugin config of every job against its schema, creates the model
  // (once) and the shared scheduler/posenc, then checks every job's size and output path. Nothing is
  // written and no job runs before all of that passed. Throws HostError.
  //
  // Resume: without overwrite, an existing output whose genplug.item.hash attribute equals the work item's
  // hash (item_hash) and whose pixels still match genplug.pixels.hash is up to date: run() skips it; one whose
  // pixels do not is rendered again. Any other existing file is an output error, as is an output path that is
  // a folder or not a regular file.
  Pipeline(Manifest manifest, PipelineOptions options);
  ~Pipeline();

  JobResult run(const Job& job);
  std::vector<JobResult> run_all();

  const Manifest& manifest() const;
  // The work item's fingerprint, written as the EXR attribute genplug.item.hash: FNV-1a 64 of what decides
  // its pixels, defaults resolved (prompt, seed, size, steps, guidance, LoRAs; the plugins' ids, versions and
  // configs; pixel type and encoding). The output path, names, compression and overwrite flags are not part of it.
  std::string item_hash(const Job& job) const;
  const PluginCatalog& catalog() const;
  int model_loads() const;
  // The model's description (describe()), parsed.
  const nlohmann::json& model_description() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace genplug::host
