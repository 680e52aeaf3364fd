// One job's images: the decode, the x0 layers and previews during sampling, the EXR header, the write.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>
#include <new>

#include <genplug/host/png_writer.hpp>
#include <genplug/internal/replaced_file.hpp>
#include <genplug/sdk_version.h>

#include "job_run.hpp"
#include "message_text.hpp"

namespace genplug::host {

namespace {

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

// The writer's options for a job's EXR; `force` replaces a file already there.
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

// After evaluation `done`, when a preview or an EXR layer asks for it: the model's prediction of the final
// latent, x0 = x - sigma v (flow matching: x = (1 - sigma) x0 + sigma noise, v = noise - x0), pictured.
void JobRun::capture_x0(genplug_tensor_handle x, double sigma, genplug_tensor_handle v) {
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

// x0_eN, N zero-padded to the digits of the pass's evaluation count (x0_e03 of 12): layers sort in order. A
// refine job's layers are its second pass's, numbered in that pass.
std::string JobRun::layer_name(uint64_t evaluation) const {
  const std::string n = std::to_string(evaluation), all = std::to_string(own_evaluations);
  return "x0_e" + std::string(all.size() > n.size() ? all.size() - n.size() : 0, '0') + n;
}

// The PNG beside the output: the model's quick preview when it has one, else a full decode shrunk here. A
// preview is no output of record: whatever stops it (but a cancel) is a warning and ends the previews.
void JobRun::write_preview(const DLTensor& latent) {
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

// After the final preview failed: the file there (an earlier run's, or this render's intermediate x0) would pass
// for this image's. Removed where it is a regular file, as a write would have replaced it; what is said of it.
std::string JobRun::remove_stale_preview() const {
  std::error_code ec;
  const std::filesystem::path png = internal::written_path(preview_path(job.output));
  if (!std::filesystem::is_regular_file(std::filesystem::symlink_status(png, ec))) return "";
  if (std::filesystem::remove(png, ec)) return "; the earlier preview there was removed, as it is not this image";
  return "; the earlier preview there is not this image (and could not be removed: " + ec.message() + ")";
}

void JobRun::no_more_previews(const std::string& why) {
  preview_failed = true;
  m.log(GENPLUG_LOG_WARNING, where + ": no more previews: " + why);
}

void JobRun::make_and_write_preview(const DLTensor& latent) {
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

// NaN or infinity in an image is a failed render (NaN weights or latents, an overflow in the model), not a
// picture: nothing is written.
void JobRun::check_finite_pixels(const std::vector<float>& planar) const {
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
                      non_finite_name(planar[first]) + "); nothing was written" + lora_hint());
}

// Why the converted image cannot be stored as it is ("" when it can): values not finite, or beyond half
// precision's range (65504; past it a half is infinity) when written as half. A config's conversion can take the
// model's finite pixels out of either.
std::string JobRun::unstorable(const ImageRGB& image, const std::string& what, const ColorConversion& color) const {
  const bool half = job.exr.pixel != "float";
  const float limit = half ? 65504.0f : std::numeric_limits<float>::max();
  size_t bad = 0;
  for (const float v : image.planar) bad += !(std::fabs(v) <= limit);
  if (!bad) return "";
  return where + ": " + what + " in colour space '" + color.name() + "' has " + std::to_string(bad) + " of " +
         std::to_string(image.planar.size()) + " values that are " +
         (half ? "beyond half precision's range (65504) or not finite" : "not finite (NaN/inf)") +
         " after the OCIO conversion" + (half ? " (exr.pixel \"float\" holds up to 3.4e38)" : "");
}

// The first image of `image` (model.h's convention: CPU float32 [N, 3, height, width]) as planar RGB floats.
std::vector<float> JobRun::planar_of(const ManagedTensor& image, uint32_t height, uint32_t width, const char* call) const {
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
std::vector<float> JobRun::decode(const ManagedTensor& latent) {
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
ExrMetadata JobRun::metadata() const {
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
  meta["genplug.version"] = GENPLUG_SDK_VERSION_STRING;
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

void JobRun::write(std::vector<float> planar) {
  stage("write");
  const ImageRGB img{static_cast<int>(result.width), static_cast<int>(result.height), std::move(planar)};
  const bool replace = m.overwrite(job) || m.render_again.count(job.index);
  // The model's sRGB values, and the layers', converted to the output's colour space (OCIO).
  const ColorConversion& color = m.color_of(job);
  ImageRGB converted = img;
  color.apply(converted);
  if (const std::string why = unstorable(converted, "the image", color); !why.empty())
    throw HostError(ErrorKind::runtime, why + "; nothing was written");
  for (auto layer = layers.begin(); layer != layers.end();) {  // diagnostics: one that cannot be stored is dropped
    color.apply(layer->image);
    const std::string why = unstorable(layer->image, "layer " + layer->name, color);
    if (why.empty()) {
      ++layer;
      continue;
    }
    m.log(GENPLUG_LOG_WARNING, why + "; the layer is left out");
    layer = layers.erase(layer);
  }
  try {
    ExrOptions options = exr_options(job.exr, replace, color);
    options.cancel = m.options.cancel;  // a signal stops the write too, leaving no file
    write_exr(job.output, converted, metadata(), options, layers);
  } catch (const HostError& e) {
    if (e.kind() == ErrorKind::cancelled) throw;
    // Said with the work item, as every other failure of a job ("disk full" alone had named only the file),
    // unless another process (an overlapping shard, a resubmitted task) finished the same item meanwhile: done.
    if (replace || m.existing_output(item ? *item : job) != Pipeline::Impl::Existing::ours_intact)
      throw HostError(e.kind(), where + ": " + e.what());
    result.skipped = true;
  }
  // Also when another process wrote the item first (skipped): this render's intermediate previews may have come
  // after that one's final, and its image is the same bits.
  if (m.options.preview) {
    try {  // the EXR is the output of record: a preview that cannot be written is a warning
      write_png(preview_path(job.output), shrink_to_fit(img, int(m.options.preview_max_side)));
    } catch (const HostError& e) {
      m.log(GENPLUG_LOG_WARNING, where + ": " + e.what() + remove_stale_preview());
    } catch (const std::bad_alloc&) {
      m.log(GENPLUG_LOG_WARNING, where + ": no preview: out of memory" + remove_stale_preview());
    }
  }
}

}  // namespace genplug::host
