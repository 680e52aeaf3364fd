// genplug host — colour management of the output through OpenColorIO (docs/exr.md, "Colour").
//
// A model's image is sRGB-encoded Rec.709 (model.h). The EXR holds it in the colour space a job names
// (exr.colorspace), converted by an OCIO processor from the config's sRGB to that space, and tagged with the
// space's name and chromaticities.
#pragma once
#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "genplug/host/errors.hpp"
#include "genplug/host/exr_writer.hpp"

namespace genplug::host {

// Primaries and white point as CIE xy: red x, y, green x, y, blue x, y, white x, y (ExrOptions::chromaticities).
using Chromaticities = std::array<float, 8>;

// The OCIO config a job uses: `manifest_config` when not empty, else the file named by $OCIO when set, else
// genplug's own (sRGB, scene-linear Rec.709, ACEScg, ACES2065-1, CIE XYZ D65, Raw): its copy beside the program
// (bin/../share/genplug/ocio/config.ocio) where there is one, else the empty path, which ColorConversion reads
// as the copy compiled into this library.
std::filesystem::path ocio_config_path(const std::filesystem::path& manifest_config);

// The config file itself cannot be read or used, whatever the colour space (no sRGB space to convert from, or
// one marked as data), as against a colour space it lacks: the setting to blame is the one that named the file
// (exr.ocio_config, or $OCIO), not the colour space.
struct OcioConfigUnreadable : HostError {
  using HostError::HostError;
};

// Converts model images (sRGB-encoded Rec.709) to one colour space of one config. Immutable once made; apply()
// may run on several threads.
class ColorConversion {
 public:
  // Throws HostError(ErrorKind::manifest) for a config that cannot be read (OcioConfigUnreadable), a colour
  // space it does not have
  // (the message lists those it has), or a config without an sRGB space to convert from (looked up as "sRGB"
  // and its usual aliases "sRGB - Texture", "srgb_tx", "Utility - sRGB - Texture").
  ColorConversion(const std::filesystem::path& config, const std::string& colorspace);
  // The other way: images in `colorspace` (plates) converted to the model's sRGB. Throws alike.
  static ColorConversion to_model(const std::filesystem::path& config, const std::string& colorspace);
  ~ColorConversion();
  ColorConversion(ColorConversion&&) noexcept;
  ColorConversion& operator=(ColorConversion&&) noexcept;

  // The image converted in place (planar float RGB).
  void apply(ImageRGB& image) const;
  // The colour space's name in the config (an alias given in the manifest resolves to it).
  const std::string& name() const;
  // Its primaries and white: from genplug's table for the spaces it knows by name or alias (Rec.709, ACES AP1
  // and AP0, CIE XYZ), else measured through the config's cie_xyz_d65_interchange role when it has one, else
  // none (the EXR then has no chromaticities attribute).
  const std::optional<Chromaticities>& chromaticities() const;
  // The config's file, for messages (empty: the compiled-in config).
  const std::filesystem::path& config() const;

 private:
  ColorConversion(const std::filesystem::path& config, const std::string& colorspace, bool to_model);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace genplug::host
