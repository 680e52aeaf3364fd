// genplug host — plates: an image given to a job (init_image) as the start of its render (docs/exr.md, "Plates").
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>
#include <utility>

#include "genplug/host/exr_writer.hpp"

namespace genplug::host {

class ColorConversion;

// How a plate of another size than the job's becomes the job's size.
enum class PlateResize {
  error,  // refuse it
  fit,    // scale it to fit inside the frame, aspect kept, the rest black (letterbox / pillarbox)
  fill,   // scale it to cover the frame, aspect kept, the overhang cropped equally on both sides
};
PlateResize parse_plate_resize(const std::string& name);  // "error", "fit", "fill"; std::invalid_argument else

// The plate at `path` in the model's convention (planar sRGB-encoded RGB, nominally [0, 1]) at width x height:
// a PNG (8 or 16 bit; taken as sRGB), or an EXR converted by `to_srgb` from its colour space. Throws
// HostError(ErrorKind::manifest) naming the path when it cannot be read or (resize error) has another size.
ImageRGB load_plate(const std::filesystem::path& path, int width, int height, PlateResize resize,
                    const ColorConversion* to_srgb);

// `plate` (any size) made width x height as `resize` says; `path` names it in messages. Throws like load_plate.
ImageRGB adapt_plate(const ImageRGB& plate, int width, int height, PlateResize resize,
                     const std::filesystem::path& path);

// Where image-to-image sampling starts in a schedule of `steps` steps, as diffusers' image-to-image pipelines
// compute it (FluxImg2ImgPipeline.get_timesteps): init = min(steps x strength, steps) in floating point,
// t_start = int(max(steps - init, 0)); the steps run are steps - t_start (28 at 0.6: t_start 11, 17 steps).
// A strength so small that no step is left (steps x strength rounds away) gives t_start = steps.
uint32_t img2img_start(uint32_t steps, double strength);

// The schedule an image-to-image job samples: `sigmas` (steps + 1 values) from img2img_start on, kept to the last
// sigma at least (where no step is left, the job refuses its strength before it samples).
std::vector<double> plate_schedule(std::vector<double> sigmas, double strength);

// Whether `path` names a PNG (by its extension, any case); anything else is read as an EXR.
bool is_png_path(const std::filesystem::path& path);

// The plate's size without reading its pixels (PNG header; EXR data window). Throws like load_plate.
// (OpenEXR checks the header's sizes as it reads it.)
std::pair<int, int> plate_size(const std::filesystem::path& path);

// `image` resampled to width x height with a separable tent filter whose support follows the scale (bilinear
// when enlarging, an area average when shrinking).
ImageRGB resample(const ImageRGB& image, int width, int height);

}  // namespace genplug::host
