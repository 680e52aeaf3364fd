// genplug host — OpenEXR output: the decoded image as an RGB EXR a VFX pipeline can use as it is.
//
// Values are stored as given: colour conversion is the caller's (the pipeline converts through OpenColorIO,
// color_management.hpp) and the options carry the colour space's name and chromaticities for the header. Files
// are written atomically (temporary file in the target folder, renamed when complete).
#pragma once
#include <array>
#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace genplug::host {

struct ExrOptions {
  enum class Pixel { half, float32 } pixel = Pixel::half;
  // The values' colour space: its name (written as oiio:ColorSpace, the attribute OpenImageIO reads) and its
  // primaries and white as CIE xy (red x, y, green x, y, blue x, y, white x, y: the chromaticities attribute).
  // Each is left out of the header when empty.
  std::string colorspace;
  std::optional<std::array<float, 8>> chromaticities;
  // One of compression_names(); anything else -> std::invalid_argument naming the allowed list.
  std::string compression = "zip";
  bool overwrite = false;
  // Checked between scanline chunks and before the rename: once set, the write stops, the temporary file is
  // removed and HostError(cancelled) is thrown. Owned by the caller; may be NULL.
  const std::atomic<bool>* cancel = nullptr;
};

// One header attribute: an EXR string, int (32-bit), float or double attribute. Numbers are typed so that a
// compositing application reads them as numbers (Nuke: exr/genplug.steps as an integer).
using ExrAttribute = std::variant<std::string, int32_t, float, double>;
using ExrMetadata = std::map<std::string, ExrAttribute>;

// Planar RGB: R plane, G plane, B plane, each height*width floats, row-major (top row first).
// A model's decode gives sRGB-encoded values, nominally [0,1]; write_exr stores whatever it is given and
// read_exr returns what the file holds.
struct ImageRGB {
  int width = 0;
  int height = 0;
  std::vector<float> planar;
};

// A further picture in the same file, as channels NAME.R, NAME.G, NAME.B (a layer in Nuke's terms): e.g. the
// model's x0 prediction at an intermediate step. Same size and convention as the image.
struct ExrLayer {
  std::string name;  // not empty, no '.' or ' '
  ImageRGB image;
};

// Writes `image` (and `layers`, stored like it) to `path` atomically: a temporary file in the same folder, renamed over `path` only when
// complete (and, without overwrite, only if `path` still does not exist). Each metadata entry becomes an
// attribute of its type with that name; `software` defaults to "genplug <version>" unless metadata sets it.
// Standard attributes of OpenEXR's list (capDate, comments, owner: strings; utcOffset: float) must have their
// standard type.
// Throws HostError(ErrorKind::output, message naming the path) when `path` exists and !overwrite, its folder
// does not exist or is not writable, or writing fails (ErrorKind::retryable when the disk is full or the
// device fails: ENOSPC, EDQUOT, EIO) — never leaving a partial or temporary file behind. The header also gets
// genplug.pixels.hash: FNV-1a 64 (hex) of the stored channel data, R, G, B planes in the file's pixel type,
// so that two renders can be compared without reading pixels.
// Throws std::invalid_argument for a bad image (size mismatch), compression name, or metadata key that
// collides with a standard EXR attribute of another type (e.g. "channels", or an int "owner").
//
// Values are never clamped: in half mode values beyond the half range (65504) become infinite, NaN stays NaN. Compression runs on OpenEXR's global thread pool
// (Imf::setGlobalThreadCount), which is the host's choice. A process killed mid-write (SIGKILL) can leave a
// hidden ".<name>.tmp-*" file in the folder; every error the writer sees removes it.
void write_exr(const std::filesystem::path& path, const ImageRGB& image,
               const ExrMetadata& metadata, const ExrOptions& options, const std::vector<ExrLayer>& layers = {});

// Whether the EXR at `path` reads completely and its pixel data still hash to its genplug.pixels.hash
// attribute (false for a truncated or altered file, or one without the attribute). Reads every pixel. With a
// lossy compression (B44/B44A on half, PXR24 on float, DWAA, DWAB), whose stored values are not the ones hashed,
// only that R, G and B decode whole.
bool exr_pixels_intact(const std::filesystem::path& path);

// The compression an EXR's header names (one of compression_names()), and whether it stores other values than it
// was given for R's pixel type (B44/B44A on half, PXR24 on float, DWAA, DWAB). Throws HostError(ErrorKind::output)
// naming the path when it is no readable EXR with an R channel.
struct StoredCompression {
  std::string name;
  bool lossy = false;
};
StoredCompression exr_stored_compression(const std::filesystem::path& path);

// Whether compression `name` (one of compression_names()) stores other values than it is given for `pixel`.
bool compression_is_lossy(const std::string& name, ExrOptions::Pixel pixel);

// Removes the temporary file of a write_exr in progress, if any. Async-signal-safe: for a signal handler that
// ends the process during a write (the writer's own clean-up would not run).
void unlink_pending_output() noexcept;

// The width and height of an EXR's data window, from its header (read under the same size limit as read_exr:
// at most 65536 a side). Throws HostError(ErrorKind::output) naming the path when it is no readable EXR.
std::pair<int, int> exr_size(const std::filesystem::path& path);

// Every string attribute of an EXR's header, without reading pixels. Throws HostError(ErrorKind::output)
// naming the path when it is no readable EXR.
std::map<std::string, std::string> read_exr_attributes(const std::filesystem::path& path);

// Every string, int, float and double attribute of an EXR's header, typed, without reading pixels (other
// attribute types are left out). Throws HostError(ErrorKind::output) naming the path when it is no readable EXR.
ExrMetadata read_exr_metadata(const std::filesystem::path& path);

// Reads the R, G, B channels of an EXR (or of `layer`: LAYER.R, LAYER.G, LAYER.B) as float (data window,
// row-major planar), and optionally every string attribute of its header. A greyscale file (a Y channel and no
// R, G, B or chroma) gives R = G = B = Y, as OpenEXR's RgbaInputFile reads it. Throws HostError(ErrorKind::output)
// naming the path when it cannot be read or lacks one of the channels.
ImageRGB read_exr(const std::filesystem::path& path,
                  std::map<std::string, std::string>* string_attributes = nullptr, const std::string& layer = "");

// Manifest values. Each throws std::invalid_argument naming the allowed values.
ExrOptions::Pixel parse_pixel(const std::string& value);        // "half", "float" (also "float32")
std::string parse_compression(const std::string& value);        // case-insensitive; returns the canonical name
const std::vector<std::string>& compression_names();            // none, rle, zips, zip, piz, pxr24, b44, ...
std::string to_string(ExrOptions::Pixel pixel);                 // "half", "float"

}  // namespace genplug::host
