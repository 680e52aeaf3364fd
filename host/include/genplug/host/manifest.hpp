// genplug host — the manifest: a pipeline (model, scheduler, optional posenc) and its jobs.
// Format and rules: docs/manifest.md; schema: host/manifest.schema.json (embedded in the host).
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace genplug::host {

struct PluginRef {
  std::string plugin;                               // plugin id
  nlohmann::json config = nlohmann::json::object();
  std::string where;                                // JSON path for messages: "model", "jobs[1].posenc"
};

struct ExrSettings {
  std::string pixel = "half";
  std::string encoding = "linear";
  std::string compression = "zip";
  bool overwrite = false;
  std::string colorspace;   // OCIO colour space of the output; "" = from encoding (docs/exr.md)
  std::string ocio_config;  // OCIO config file (relative to the working directory); "" = $OCIO or genplug's own
  std::string owner;  // the standard `owner` attribute when not empty
  std::vector<uint32_t> x0_layers;  // evaluations (1-based) whose x0 prediction is stored as a layer
};

// One work item: a manifest job, or one item of a batch job (docs/manifest.md, "Batches").
struct Job {
  size_t index = 0;    // work item index over the whole manifest (outputs' {index}, shards)
  size_t job = 0;      // index of the manifest job it came from
  std::string where;   // "jobs[2]", or "jobs[2] (item 7)" for a batch item: for messages
  std::string name;
  std::string prompt;
  std::optional<uint32_t> width, height, steps;  // absent: the model's defaults
  std::optional<double> guidance;
  uint64_t seed = 0;
  std::filesystem::path output;
  std::optional<PluginRef> scheduler;  // per-job override
  std::optional<PluginRef> posenc;     // per-job override
  bool plain_rope = false;             // "posenc": "none" for this job
  std::optional<nlohmann::json> loras; // this job's weight adapters (a list), replacing the model's own
  // A plate to start from (docs/exr.md, "Plates"): encoded, noised to the schedule's sigma at `strength`,
  // denoised from there. init_colorspace: the EXR plate's colour space ("" = its oiio:ColorSpace, else
  // Linear Rec.709 (sRGB)); resize: "error", "fit" or "fill".
  std::optional<std::filesystem::path> init_image;
  std::string init_colorspace;
  double strength = 0.6;
  std::string resize = "error";
  // The two-pass render (docs/exr.md, "Refine"): this job's render (or refine.plate), resized to the refine
  // pass's size and rendered again from there as a plate. The pass is a Job of its own (refine_pass true, same
  // index and output); null without "refine".
  std::shared_ptr<const Job> refine;
  bool refine_pass = false;
  ExrSettings exr;
  nlohmann::json raw;                  // the item as a plain job (one seed, prompt, ...), for EXR metadata
};

struct Manifest {
  std::filesystem::path path;  // where it was read from ("<embedded>" for built-ins)
  std::vector<std::filesystem::path> plugin_path;
  PluginRef model;
  PluginRef scheduler;
  std::optional<PluginRef> posenc;
  std::vector<Job> jobs;  // the work items, batch jobs expanded
  // The files the run reads, resolved (resolved_path) -> what each is for messages ("the manifest",
  // "jobs[0].init_image", ...): an output to be overwritten may not be one of them (Pipeline checks).
  std::map<std::filesystem::path, std::string> inputs;
  // Every work item's output, resolved -> its `where`, as parsed (before a shard is chosen): what a preview
  // may not replace.
  std::map<std::filesystem::path, std::string> outputs;
  nlohmann::json raw;  // after overrides

  // Reads, applies `overrides` ("jobs.0.seed=7"), validates against the schema, and converts.
  // Throws HostError(manifest) with one line naming the file and the JSON path; HostError(cancelled) once
  // `cancel` (read every 1024 work items; may be null) is set.
  static Manifest load(const std::filesystem::path& path, const std::vector<std::string>& overrides = {},
                       const std::atomic<bool>* cancel = nullptr);
  static Manifest parse(nlohmann::json document, const std::filesystem::path& path,
                        const std::vector<std::string>& overrides = {}, const std::atomic<bool>* cancel = nullptr);
};

// The manifest's JSON Schema.
const nlohmann::json& manifest_schema();

// Applies one "a.b.0.c=value" override (value parsed as JSON when it is valid JSON, else taken as a string;
// "job." is accepted for "jobs."). Throws HostError(manifest) naming the override when the path is invalid.
void apply_override(nlohmann::json& document, const std::string& assignment);

}  // namespace genplug::host
