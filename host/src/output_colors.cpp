// The OCIO conversions of a job's output and of its plate, made (and so checked) once per config and colour
// space.
#include <cstdlib>

#include <genplug/host/errors.hpp>
#include <genplug/host/exr_writer.hpp>
#include <genplug/host/plate.hpp>
#include <genplug/host/png_writer.hpp>

#include "pipeline_impl.hpp"

namespace genplug::host {
namespace fs = std::filesystem;

namespace {

// The output's colour space: exr.colorspace, else what exr.encoding stands for (its meaning before OCIO).
std::string colorspace_of(const ExrSettings& s) {
  if (!s.colorspace.empty()) return s.colorspace;
  return s.encoding == "display" ? "sRGB" : "Linear Rec.709 (sRGB)";
}

}  // namespace

fs::path Pipeline::Impl::ocio_config_of(const Job& job) const {
  return ocio_config_path(job.exr.ocio_config);  // relative paths: to the working directory, as outputs
}

// A config that cannot be read, blamed on what named it: the job's exr.ocio_config, the manifest's, $OCIO
// (exit 3 each), else genplug's own installation (a runtime error: no manifest can fix it).
HostError Pipeline::Impl::ocio_config_error(const Job& job, const HostError& e) const {
  const std::string head = manifest.path.string() + ": ";
  if (!job.exr.ocio_config.empty()) {
    const nlohmann::json& raw_job = manifest.raw["jobs"][job.job];
    const bool own = raw_job.contains("exr") && raw_job["exr"].contains("ocio_config");
    return HostError(ErrorKind::manifest, head + (own ? job.where + "." : std::string()) + "exr.ocio_config: " + e.what());
  }
  if (const char* env = std::getenv("OCIO"); env && *env)
    return HostError(ErrorKind::manifest, head + job.where + ": $OCIO: " + e.what());
  const std::string what = e.what();  // the built-in config names itself so
  return HostError(ErrorKind::runtime, what.rfind("genplug's", 0) == 0 ? what : "genplug's own " + what);
}

// The OCIO conversion of a job's output, made (and so checked) once per config and colour space.
const ColorConversion& Pipeline::Impl::color_of(const Job& job) {
  const fs::path config = ocio_config_of(job);
  const std::string space = colorspace_of(job.exr);
  const auto key = std::make_pair(config.string(), space);
  auto it = colors.find(key);
  if (it == colors.end()) {
    try {
      it = colors.emplace(key, ColorConversion(config, space)).first;
    } catch (const OcioConfigUnreadable& e) {
      throw ocio_config_error(job, e);
    } catch (const HostError& e) {
      throw HostError(e.kind(), manifest.path.string() + ": " + job.where + ".exr.colorspace: " + e.what());
    }
  }
  return it->second;
}

// The conversion of an EXR plate to the model's sRGB: init_colorspace, else the file's oiio:ColorSpace,
// else scene-linear Rec.709 (what genplug writes by default). PNG plates are sRGB already: none.
const ColorConversion* Pipeline::Impl::plate_color_of(const Job& job) {
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
    } catch (const OcioConfigUnreadable& e) {
      throw ocio_config_error(job, e);
    } catch (const HostError& e) {
      const char* field = job.refine_pass ? ".plate_colorspace: " : ".init_colorspace: ";  // where = "jobs[0].refine"
      throw HostError(e.kind(), manifest.path.string() + ": " + job.where + field + e.what());
    }
  }
  return &it->second;
}

// Not rendered again: the EXR holds the image (half floats at worst, far finer than the PNG's 8 bits), read back
// only while it is still this item's intact render (it may have been replaced since the checks). Without --preview,
// or with a PNG there (or a link by that name), nothing is done. The conversion is the one plates use, made once.
void Pipeline::Impl::restore_missing_preview(const Job& job) {
  if (!options.preview) return;
  const fs::path png = preview_path(job.output);
  std::error_code ec;
  if (fs::symlink_status(png, ec).type() != fs::file_type::not_found) return;  // there, or unknown: left alone
  const std::string where = manifest.path.string() + ": " + job.where + ".output";
  const std::string failed = where + ": up to date, but its missing preview could not be made: ";
  try {
    if (!fs::is_regular_file(job.output, ec) || existing_output(job) != Existing::ours_intact) {
      log(GENPLUG_LOG_WARNING, failed + "the EXR is no longer this work item's intact render");
      return;
    }
    ImageRGB image = read_exr(job.output);
    const fs::path config = ocio_config_of(job);
    const std::string space = colorspace_of(job.exr);
    const auto key = std::make_pair(config.string(), space);
    auto it = plate_colors.find(key);
    if (it == plate_colors.end()) it = plate_colors.emplace(key, ColorConversion::to_model(config, space)).first;
    it->second.apply(image);
    write_png(png, shrink_to_fit(image, int(options.preview_max_side)));
    log(GENPLUG_LOG_INFO, where + ": up to date; its missing preview was made from it: '" + png.string() + "'");
  } catch (const std::bad_alloc&) {
    log(GENPLUG_LOG_WARNING, failed + "out of memory");
  } catch (const std::exception& e) {  // HostError, and whatever a library below throws: a preview is no output
    log(GENPLUG_LOG_WARNING, failed + e.what());
  }
}

}  // namespace genplug::host
