// What a work item is, for resume: the hash of what decides its pixels, and what is at its output path.
#include <fstream>
#include <system_error>
#include <vector>

#include <genplug/host/errors.hpp>
#include <genplug/host/exr_writer.hpp>

#include "fnv1a.hpp"
#include "pipeline_impl.hpp"

namespace genplug::host {
namespace fs = std::filesystem;

namespace {

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

}  // namespace

// What decides the pixels, with every default resolved (so "64" and "64.0", or a default written out, are
// the same item); where the file goes, its name and its compression do not count.
std::string Pipeline::Impl::item_hash(const Job& job) const { return item_hash(job, LoraIdentity::resolved); }

// LoraIdentity::as_written: the hash of genplug 0.3.2 and before, which took a job's LoRAs as written even where they
// were the model's own (`"loras": []` on a model without any): their outputs are still this item's.
std::string Pipeline::Impl::item_hash(const Job& job, LoraIdentity loras) const {
  nlohmann::json identity = {
      {"prompt", job.prompt},
      {"seed", job.seed},
      {"width", job.width.value_or(defaults.width)},
      {"height", job.height.value_or(defaults.height)},
      {"steps", job.steps.value_or(defaults.default_steps)},
      {"guidance", job.guidance.value_or(defaults.default_guidance)},
      {"loras", normalised_loras(job, loras)},
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
  if (job.refine) identity["refine"] = item_hash(*job.refine, loras);  // the second pass's own settings
  return Fnv1a().add(identity.dump()).hex();
}

nlohmann::json Pipeline::Impl::plugin_identity(const PluginRef* ref) const {
  if (!ref) return "none";
  const PluginRecord* r = catalog->find(ref->plugin);
  return {{"plugin", ref->plugin}, {"version", r ? r->version : ""}, {"config", ref->config}};
}

// A job's LoRAs with the scale filled in as a number ("scale": 1, 1.0 or left out are one render); null for
// the model's own, whether left out or written out (`[]` where the model config has none).
nlohmann::json Pipeline::Impl::normalised_loras(const Job& job, LoraIdentity identity) const {
  if (!job.loras) return nullptr;
  const auto normalised = [](const nlohmann::json& list) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& l : list)
      if (l.is_object()) out.push_back({{"path", l.value("path", nlohmann::json())}, {"scale", l.value("scale", 1.0)}});
    return out;
  };
  const nlohmann::json& own = manifest.model.config;
  const nlohmann::json model_loras =
      own.is_object() && own.contains("loras") && own["loras"].is_array() ? own["loras"] : nlohmann::json::array();
  nlohmann::json out = normalised(*job.loras);
  return identity == LoraIdentity::resolved && out == normalised(model_loras) ? nlohmann::json() : out;
}

// Whether this item's existing output holds other values than the job would store: the compression is not in the
// item hash (a file's name and place are not either), so a switch from a lossless one to another lossless one
// keeps the file, whose pixels are the same, but a switch from or to a lossy one (B44 on half, PXR24 on float,
// DWA) renders again.
bool Pipeline::Impl::stored_otherwise(const Job& job) {
  const StoredCompression stored = exr_stored_compression(job.output);
  if (stored.name == parse_compression(job.exr.compression)) return false;
  return stored.lossy || compression_is_lossy(job.exr.compression, parse_pixel(job.exr.pixel));
}

Pipeline::Impl::Existing Pipeline::Impl::existing_output(const Job& job) const {
  std::map<std::string, std::string> attributes;
  try {
    attributes = read_exr_attributes(job.output);
  } catch (const HostError&) {
    return Existing::unreadable;
  }
  const auto hash = attributes.find("genplug.item.hash");
  if (hash == attributes.end() ||
      (hash->second != item_hash(job) && hash->second != item_hash(job, LoraIdentity::as_written)))
    return Existing::foreign;
  try {
    if (stored_otherwise(job)) return Existing::ours_stored_otherwise;
  } catch (const HostError&) {
    return Existing::unreadable;
  }
  return exr_pixels_intact(job.output) ? Existing::ours_intact : Existing::ours_damaged;
}

std::optional<Pipeline::Impl::Existing> Pipeline::Impl::existing_without_model(const fs::path& output) {
  try {
    if (!read_exr_attributes(output).count("genplug.item.hash")) return Existing::foreign;
  } catch (const HostError&) {
    return Existing::unreadable;
  }
  return std::nullopt;
}

const char* Pipeline::Impl::existing_text(Existing e) {
  switch (e) {
    case Existing::ours_intact: return "is this work item's render, up to date";
    case Existing::ours_damaged: return "is this work item's render but damaged";
    case Existing::ours_stored_otherwise: return "is this work item's render, stored with another compression";
    case Existing::foreign: return "was not rendered from this work item";
    case Existing::unreadable: return "is no readable EXR";
  }
  return "";
}

// An existing output without overwrite: up to date when it is this work item's intact render; rendered
// again (with a warning) when it is this item's but damaged, or (with a note) stored with other values than the
// job would store; else an error (the file is someone else's), returned for the caller to throw once the job's
// inputs are checked: --force, which that error suggests, cannot mend a missing plate.
std::optional<HostError> Pipeline::Impl::check_existing_output(const Job& job, const std::string& where) {
  std::error_code ec;
  if (const auto why = file_cannot_be_written(job.output)) throw HostError(ErrorKind::output, where + ": " + *why);
  if (overwrite(job) || !fs::exists(fs::symlink_status(job.output, ec))) return std::nullopt;
  const std::string file = where + ": '" + job.output.string() + "'";
  const Existing existing = existing_output(job);
  // In a folder that cannot be written (checks, 2.), anything but an up-to-date output is that folder's error,
  // unless it has become writable since.
  if (const auto out = unwritable_output(job); out && existing != Existing::ours_intact)
    if (const auto e = output_folder_problem(*out))
      throw HostError(e->kind(), where + (*out == job.output ? "" : " (its PNG preview)") + ": " + e->what() +
                                     " (the output " + existing_text(existing) + ")");
  switch (existing) {
    case Existing::ours_intact:
      up_to_date.insert(job.index);
      return std::nullopt;
    case Existing::ours_damaged:
      log(GENPLUG_LOG_WARNING, file + " is this work item's render but damaged (its pixels do not match their "
                                      "hash): rendering it again");
      render_again.insert(job.index);
      return std::nullopt;
    case Existing::ours_stored_otherwise:
      log(GENPLUG_LOG_INFO, file + " is this work item's render stored with " +
                                exr_stored_compression(job.output).name + " compression; the job asks for " +
                                parse_compression(job.exr.compression) +
                                ", and a lossy one stores other pixels: rendering it again");
      render_again.insert(job.index);
      return std::nullopt;
    case Existing::foreign:
      return HostError(ErrorKind::output, file + " exists and was not rendered from this work item (set "
                                                 "exr.overwrite in the manifest or pass --force to replace it)");
    case Existing::unreadable:
      return HostError(ErrorKind::output, file + " exists and is no readable EXR (pass --force to replace it)");
  }
  return std::nullopt;
}

}  // namespace genplug::host
