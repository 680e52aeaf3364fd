// genplug host — PNG previews: an 8-bit sRGB picture of an image, for eyes and file browsers (the EXR stays the
// output of record).
#pragma once
#include <filesystem>

#include "genplug/host/exr_writer.hpp"

namespace genplug::host {

// Writes `image` (planar, sRGB-encoded, nominally [0, 1]: what a model's decode returns) as an 8-bit RGB PNG,
// atomically as write_exr does (temporary file beside `path`, renamed over it when complete: an existing file at
// `path` is replaced). Values are clamped to [0, 1] and rounded to the nearest of 256 levels; NaN becomes 0.
// Throws HostError(ErrorKind::output) naming the path, ErrorKind::retryable when the disk is full or failing.
void write_png(const std::filesystem::path& path, const ImageRGB& image);

// The image shrunk by box filtering so that neither side exceeds max_side (aspect ratio kept within a pixel);
// returned unchanged when it already fits.
ImageRGB shrink_to_fit(const ImageRGB& image, int max_side);

// Where a preview of the EXR at `output` goes: the same path with the extension ".png" instead of ".exr".
std::filesystem::path preview_path(const std::filesystem::path& output);

}  // namespace genplug::host
