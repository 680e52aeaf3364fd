// genplug host — colour management through OpenColorIO (color_management.hpp).
#include "genplug/host/color_management.hpp"

#include <OpenColorIO/OpenColorIO.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <vector>

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

// A name as messages quote it: at most 200 bytes (a manifest's string may be megabytes long).
std::string shown(const std::string& name) {
  return name.size() <= 200 ? name : name.substr(0, 200) + "... (" + std::to_string(name.size()) + " bytes)";
}

std::string available(const OCIO::ConstConfigRcPtr& config) {
  std::string out;
  const int n = config->getNumColorSpaces(), listed = std::min(n, 50);  // a studio config has hundreds
  for (int i = 0; i < listed; ++i) out += (i ? ", " : "") + shown(config->getColorSpaceNameByIndex(i));
  if (listed < n) out += " and " + std::to_string(n - listed) + " more";
  return out;
}

[[noreturn]] void fail_config(const fs::path& config, const std::string& why) {
  throw HostError(ErrorKind::manifest, config_name(config) + ": " + why);
}

// What a conversion will build, walked before OCIO builds it (OCIO cannot be stopped once it has begun): the colour
// spaces, looks, view transforms and named transforms reached through ColorSpace-, Look-, DisplayView- and group
// transforms. Refused: a file a transform reads that is no regular file where OCIO finds it (OCIO opens each, once
// per file format it tries: a FIFO blocked it for ever, past the first signal), and anything defined through itself
// (OCIO recursed until the stack overflowed). A file OCIO cannot find is left to OCIO, which names it. A space is
// one node for both directions, so spaces defined through each other are refused even where OCIO might take the
// direction that avoids the loop.
class ConfigWalk {
 public:
  ConfigWalk(const OCIO::ConstConfigRcPtr& config, const fs::path& path) : config_(config), path_(path) {}

  // A colour space, role or named transform by name; unknown names are left to OCIO.
  void space(const std::string& name) {
    if (const auto cs = config_->getColorSpace(name.c_str())) {
      const std::string node = "colour space '" + std::string(cs->getName()) + "'";
      visit(node, [&] {
        for (const auto d : {OCIO::COLORSPACE_DIR_TO_REFERENCE, OCIO::COLORSPACE_DIR_FROM_REFERENCE})
          transform(cs->getTransform(d), node);
      });
    } else if (const auto nt = config_->getNamedTransform(name.c_str())) {
      const std::string node = "named transform '" + std::string(nt->getName()) + "'";
      visit(node, [&] {
        for (const auto d : {OCIO::TRANSFORM_DIR_FORWARD, OCIO::TRANSFORM_DIR_INVERSE})
          transform(nt->getTransform(d), node);
      });
    }
  }

 private:
  static constexpr size_t kMaxDepth = 256;  // far deeper than any real config; our own stack stays small

  static std::string text(const char* s) { return s ? s : ""; }  // OCIO's names: "" or null when there is none

  // Walks `node` once; a node met again while its own walk is under way closes a cycle.
  template <class Walk>
  void visit(const std::string& node, Walk walk) {
    if (done_.count(node)) return;
    if (const auto it = std::find(stack_.begin(), stack_.end(), node); it != stack_.end()) {
      std::string cycle;
      for (auto i = it; i != stack_.end(); ++i) cycle += *i + " -> ";
      fail_config(path_, node + " is defined through itself (" + cycle + node + ")");
    }
    if (stack_.size() >= kMaxDepth)
      fail_config(path_, node + ": transforms nest more than " + std::to_string(kMaxDepth) + " deep");
    stack_.push_back(node);
    walk();
    stack_.pop_back();
    done_.insert(node);
  }

  void transform(const OCIO::ConstTransformRcPtr& t, const std::string& owner) {
    if (!t) return;
    if (const auto group = OCIO::DynamicPtrCast<const OCIO::GroupTransform>(t)) {
      for (int i = 0; i < group->getNumTransforms(); ++i) transform(group->getTransform(i), owner);
    } else if (const auto cst = OCIO::DynamicPtrCast<const OCIO::ColorSpaceTransform>(t)) {
      space(text(cst->getSrc()));
      space(text(cst->getDst()));
    } else if (const auto lt = OCIO::DynamicPtrCast<const OCIO::LookTransform>(t)) {
      space(text(lt->getSrc()));
      space(text(lt->getDst()));
      looks(text(lt->getLooks()));
    } else if (const auto dv = OCIO::DynamicPtrCast<const OCIO::DisplayViewTransform>(t)) {
      display_view(*dv);
    } else if (const auto file = OCIO::DynamicPtrCast<const OCIO::FileTransform>(t)) {
      check_file(text(file->getSrc()), owner);
    }
  }

  // "+a, -b | c d": look names (spaces inside one), separated by ',' or ':', alternatives after '|', each with an
  // optional direction, as OCIO splits them.
  void looks(const std::string& list) {
    std::string item;
    for (const char c : list + ",") {
      if (c != ',' && c != ':' && c != '|') {
        item += c;
        continue;
      }
      const size_t first = item.find_first_not_of(" \t"), last = item.find_last_not_of(" \t");
      std::string name = first == std::string::npos ? "" : item.substr(first, last - first + 1);
      if (!name.empty() && (name[0] == '+' || name[0] == '-')) name.erase(0, 1);
      item.clear();
      const auto look = name.empty() ? nullptr : config_->getLook(name.c_str());
      if (!look) continue;
      const std::string node = "look '" + name + "'";
      visit(node, [&] {
        space(text(look->getProcessSpace()));
        transform(look->getTransform(), node);
        transform(look->getInverseTransform(), node);
      });
    }
  }

  void display_view(const OCIO::DisplayViewTransform& dv) {
    space(text(dv.getSrc()));
    const char* display = dv.getDisplay();
    const char* view = dv.getView();
    const std::string view_space = text(config_->getDisplayViewColorSpaceName(display, view));
    space(view_space == "<USE_DISPLAY_NAME>" ? text(display) : view_space);  // the shared views' placeholder
    looks(text(config_->getDisplayViewLooks(display, view)));
    view_transform(text(config_->getDisplayViewTransformName(display, view)));
  }

 public:
  // A view transform by name (the config's default one joins scene- and display-referred spaces).
  void view_transform(const std::string& name) {
    const std::string node = "view transform '" + name + "'";
    if (const auto vt = name.empty() ? nullptr : config_->getViewTransform(name.c_str()))
      visit(node, [&] {
        for (const auto d : {OCIO::VIEWTRANSFORM_DIR_TO_REFERENCE, OCIO::VIEWTRANSFORM_DIR_FROM_REFERENCE})
          transform(vt->getTransform(d), node);
      });
  }

 private:

  void check_file(const std::string& src, const std::string& owner) {
    std::string found;
    try {
      found = config_->getCurrentContext()->resolveFileLocation(src.c_str());
    } catch (const OCIO::Exception&) {
      return;
    }
    std::error_code ec;
    const fs::file_status status = fs::status(found, ec);
    if (fs::exists(status) && !fs::is_regular_file(status))
      fail_config(path_, owner + ": its file '" + found + "' is not a regular file (" +
                             (fs::is_directory(status) ? "a folder" : "a device, FIFO or socket") + ")");
  }

  const OCIO::ConstConfigRcPtr& config_;
  const fs::path& path_;
  std::set<std::string> done_;
  std::vector<std::string> stack_;
};

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
  if (!space)
    fail_config(config_path, "no colour space '" + shown(colorspace) + "' (available: " + available(config) + ")");
  OCIO::ConstColorSpaceRcPtr source;
  for (const char* s : {"sRGB", "sRGB - Texture", "srgb_tx", "Utility - sRGB - Texture"})
    if ((source = config->getColorSpace(s))) break;
  // These two are faults of the config, whatever colour space a job asks for: blamed on what named the config.
  if (!source)
    throw OcioConfigUnreadable(ErrorKind::manifest, config_name(config_path) + ": no sRGB colour space to convert the "
                               "model's images from (named sRGB, sRGB - Texture, srgb_tx or Utility - sRGB - Texture)");
  if (source->isData())  // OCIO converts nothing from a data space: the file would hold sRGB values under a new name
    throw OcioConfigUnreadable(ErrorKind::manifest, config_name(config_path) + ": its sRGB colour space '" +
                                                        std::string(source->getName()) +
                                                        "' is marked as data (isdata: true): OpenColorIO converts "
                                                        "nothing from a data space");
  ConfigWalk walk(config, config_path);  // what the processors below are built from
  try {  // whatever the job asks for, these are built: a fault in them is the config's
    walk.space(source->getName());
    walk.space("cie_xyz_d65_interchange");
    const char* view_transform = config->getDefaultViewTransformName();
    walk.view_transform(view_transform ? view_transform : "");
  } catch (const HostError& e) {
    throw OcioConfigUnreadable(ErrorKind::manifest, e.what());
  }
  walk.space(space->getName());
  try {
    impl_->cpu = (to_model ? config->getProcessor(space, source) : config->getProcessor(source, space))
                     ->getOptimizedCPUProcessor(OCIO::OPTIMIZATION_LOSSLESS);
    impl_->name = space->getName();
    impl_->chromaticities = from_table(space);
    if (!impl_->chromaticities && !space->isData()) impl_->chromaticities = measured(config, impl_->name);
  } catch (const OCIO::Exception& e) {
    fail_config(config_path, "sRGB to '" + shown(colorspace) + "': " + e.what());
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
