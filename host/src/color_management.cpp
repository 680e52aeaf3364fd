// genplug host — colour management through OpenColorIO (color_management.hpp).
#include "genplug/host/color_management.hpp"

#include <OpenColorIO/OpenColorIO.h>

#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "genplug/host/errors.hpp"
#include "program_location.hpp"

namespace OCIO = OCIO_NAMESPACE;
namespace fs = std::filesystem;

namespace genplug::host {
namespace {

// genplug's own config (host/ocio/config.ocio), compiled in: a host linked to this library finds it wherever it
// runs, with no file beside the program and no path into the tree it was built in. It reads no files itself.
const char kOwnConfig[] =
#include "ocio_config.inc"
    ;

// How messages name a config: its file, or the compiled-in one (the empty path).
std::string config_name(const fs::path& config) {
  return config.empty() ? "genplug's built-in OCIO config" : "OCIO config '" + config.string() + "'";
}

// Known spaces by lower-case name or alias. ITU-R BT.709 with D65; ACES AP1 / AP0 with the ACES white
// (S-2014-004, SMPTE ST 2065-1); CIE XYZ as OpenEXR tags it (ImfChromaticities.h: primaries on the axes, white
// the equal-energy point 1/3, 1/3, so that readers do not scale X and Z).
const std::map<std::string, Chromaticities>& known_chromaticities() {
  static const Chromaticities rec709{0.64f, 0.33f, 0.30f, 0.60f, 0.15f, 0.06f, 0.3127f, 0.3290f};
  static const Chromaticities ap1{0.713f, 0.293f, 0.165f, 0.830f, 0.128f, 0.044f, 0.32168f, 0.33767f};
  static const Chromaticities ap0{0.7347f, 0.2653f, 0.0f, 1.0f, 0.0001f, -0.0770f, 0.32168f, 0.33767f};
  static const Chromaticities xyz{1.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f / 3, 1.0f / 3};  // OpenEXR's XYZ tags
  static const std::map<std::string, Chromaticities> table = {
      {"linear rec.709 (srgb)", rec709}, {"lin_rec709", rec709}, {"lin_srgb", rec709}, {"srgb", rec709},
      {"srgb_tx", rec709},  {"srgb - texture", rec709}, {"utility - linear - srgb", rec709},
      {"utility - srgb - texture", rec709}, {"acescg", ap1}, {"aces_cg", ap1}, {"aces - acescg", ap1},
      {"aces2065-1", ap0}, {"aces2065_1", ap0}, {"aces - aces2065-1", ap0}, {"cie-xyz-d65", xyz},
      {"cie_xyz_d65", xyz}};
  return table;
}

std::string lowercase(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<Chromaticities> from_table(const OCIO::ConstColorSpaceRcPtr& space) {
  const auto& table = known_chromaticities();
  std::vector<std::string> names = {space->getName()};
  for (size_t i = 0; i < space->getNumAliases(); ++i) names.emplace_back(space->getAlias(i));
  for (const auto& n : names)
    if (auto it = table.find(lowercase(n)); it != table.end()) return it->second;
  return std::nullopt;
}

// xy of the space's unit primaries and white, converted to the config's CIE XYZ D65 interchange space.
std::optional<Chromaticities> measured(const OCIO::ConstConfigRcPtr& config, const std::string& space) {
  if (!config->hasRole("cie_xyz_d65_interchange")) return std::nullopt;
  const auto cpu = config->getProcessor(space.c_str(), "cie_xyz_d65_interchange")->getDefaultCPUProcessor();
  Chromaticities c{};
  const float units[4][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 1}};
  for (int i = 0; i < 4; ++i) {
    float v[3] = {units[i][0], units[i][1], units[i][2]};
    cpu->applyRGB(v);
    const float sum = v[0] + v[1] + v[2];
    if (!(sum != 0.0f)) return std::nullopt;
    c[2 * i] = v[0] / sum;
    c[2 * i + 1] = v[1] / sum;
  }
  return c;
}

std::string available(const OCIO::ConstConfigRcPtr& config) {
  std::string out;
  for (int i = 0; i < config->getNumColorSpaces(); ++i) out += (i ? ", " : "") + std::string(config->getColorSpaceNameByIndex(i));
  return out;
}

[[noreturn]] void fail_config(const fs::path& config, const std::string& why) {
  throw HostError(ErrorKind::manifest, config_name(config) + ": " + why);
}

// Refuses a file that a transform of colour space `name` reads (a FileTransform's source, through group
// transforms and the colour spaces a ColorSpaceTransform names) where OCIO finds it, when it is no regular file.
// OCIO opens each such file while it builds a processor, once for every file format it tries: a FIFO blocked it
// for ever, and past the first signal. A file OCIO cannot find is left to OCIO, which names it. `seen`: the colour
// spaces looked at, so that a cycle of ColorSpaceTransforms ends.
void check_lut_files(const OCIO::ConstConfigRcPtr& config, const fs::path& config_path, const std::string& name,
                     std::set<std::string>& seen);

void check_transform_files(const OCIO::ConstConfigRcPtr& config, const fs::path& config_path,
                           const OCIO::ConstTransformRcPtr& transform, const std::string& space,
                           std::set<std::string>& seen) {
  if (!transform) return;
  if (const auto group = OCIO::DynamicPtrCast<const OCIO::GroupTransform>(transform)) {
    for (int i = 0; i < group->getNumTransforms(); ++i)
      check_transform_files(config, config_path, group->getTransform(i), space, seen);
  } else if (const auto other = OCIO::DynamicPtrCast<const OCIO::ColorSpaceTransform>(transform)) {
    check_lut_files(config, config_path, other->getSrc(), seen);
    check_lut_files(config, config_path, other->getDst(), seen);
  } else if (const auto file = OCIO::DynamicPtrCast<const OCIO::FileTransform>(transform)) {
    std::string found;
    try {
      found = config->getCurrentContext()->resolveFileLocation(file->getSrc());
    } catch (const OCIO::Exception&) {
      return;
    }
    std::error_code ec;
    const fs::file_status status = fs::status(found, ec);
    if (fs::exists(status) && !fs::is_regular_file(status))
      fail_config(config_path, "colour space '" + space + "': its file '" + found + "' is not a regular file (" +
                                   (fs::is_directory(status) ? "a folder" : "a device, FIFO or socket") + ")");
  }
}

void check_lut_files(const OCIO::ConstConfigRcPtr& config, const fs::path& config_path, const std::string& name,
                     std::set<std::string>& seen) {
  const OCIO::ConstColorSpaceRcPtr space = config->getColorSpace(name.c_str());
  if (!space || !seen.insert(space->getName()).second) return;
  for (const auto direction : {OCIO::COLORSPACE_DIR_TO_REFERENCE, OCIO::COLORSPACE_DIR_FROM_REFERENCE})
    check_transform_files(config, config_path, space->getTransform(direction), space->getName(), seen);
}

// The config at `path`, or the compiled-in one for the empty path.
OCIO::ConstConfigRcPtr read_config(const fs::path& path) {
  std::error_code ec;  // OpenColorIO would open a FIFO and wait for a writer
  const fs::file_status status = fs::status(path, ec);
  if (!path.empty() && fs::exists(status) && !fs::is_regular_file(status))
    throw OcioConfigUnreadable(ErrorKind::manifest, config_name(path) + ": is not a regular file");
  try {
    if (!path.empty()) return OCIO::Config::CreateFromFile(path.c_str());
    std::istringstream text(kOwnConfig);
    return OCIO::Config::CreateFromStream(text);
  } catch (const OCIO::Exception& e) {
    throw OcioConfigUnreadable(ErrorKind::manifest, config_name(path) + ": " + e.what());
  }
}

}  // namespace

fs::path ocio_config_path(const fs::path& manifest_config) {
  if (!manifest_config.empty()) return manifest_config;
  if (const char* env = std::getenv("OCIO"); env && *env) return env;
  static const fs::path own = [] {  // looked for once: a batch's checks ask for each work item
    const fs::path beside = program_directory() / ".." / "share" / "genplug" / "ocio" / "config.ocio";
    return fs::exists(beside) ? beside : fs::path();  // else the compiled-in copy
  }();
  return own;
}

struct ColorConversion::Impl {
  fs::path config_path;
  std::string name;
  std::optional<Chromaticities> chromaticities;
  OCIO::ConstCPUProcessorRcPtr cpu;
};

ColorConversion::ColorConversion(const fs::path& config_path, const std::string& colorspace)
    : ColorConversion(config_path, colorspace, false) {}

ColorConversion ColorConversion::to_model(const fs::path& config_path, const std::string& colorspace) {
  return ColorConversion(config_path, colorspace, true);
}

ColorConversion::ColorConversion(const fs::path& config_path, const std::string& colorspace, bool to_model)
    : impl_(std::make_unique<Impl>()) {
  impl_->config_path = config_path;
  const OCIO::ConstConfigRcPtr config = read_config(config_path);
  const OCIO::ConstColorSpaceRcPtr space = config->getColorSpace(colorspace.c_str());  // names and aliases
  if (!space) fail_config(config_path, "no colour space '" + colorspace + "' (available: " + available(config) + ")");
  OCIO::ConstColorSpaceRcPtr source;
  for (const char* s : {"sRGB", "sRGB - Texture", "srgb_tx", "Utility - sRGB - Texture"})
    if ((source = config->getColorSpace(s))) break;
  if (!source) fail_config(config_path, "no sRGB colour space to convert the model's images from (named sRGB, sRGB - "
                                 "Texture, srgb_tx or Utility - sRGB - Texture)");
  std::set<std::string> seen;  // the spaces whose processors are built below, with the files they read
  for (const std::string name : {std::string(space->getName()), std::string(source->getName()),
                                 std::string("cie_xyz_d65_interchange")})
    check_lut_files(config, config_path, name, seen);
  try {
    impl_->cpu = (to_model ? config->getProcessor(space, source) : config->getProcessor(source, space))
                     ->getOptimizedCPUProcessor(OCIO::OPTIMIZATION_LOSSLESS);
    impl_->name = space->getName();
    impl_->chromaticities = from_table(space);
    if (!impl_->chromaticities && !space->isData()) impl_->chromaticities = measured(config, impl_->name);
  } catch (const OCIO::Exception& e) {
    fail_config(config_path, "sRGB to '" + colorspace + "': " + e.what());
  }
}

ColorConversion::~ColorConversion() = default;
ColorConversion::ColorConversion(ColorConversion&&) noexcept = default;
ColorConversion& ColorConversion::operator=(ColorConversion&&) noexcept = default;

void ColorConversion::apply(ImageRGB& image) const {
  const size_t plane = size_t(image.width) * size_t(image.height);
  float* p = image.planar.data();
  OCIO::PlanarImageDesc desc(p, p + plane, p + 2 * plane, nullptr, image.width, image.height);
  impl_->cpu->apply(desc);
}

const std::string& ColorConversion::name() const { return impl_->name; }
const std::optional<Chromaticities>& ColorConversion::chromaticities() const { return impl_->chromaticities; }
const fs::path& ColorConversion::config() const { return impl_->config_path; }

}  // namespace genplug::host
