// genplug host — OpenEXR output (see exr_writer.hpp for the contract).
#include "genplug/host/exr_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include <Iex.h>
#include <half.h>
#include <ImfChannelList.h>
#include <ImfChromaticities.h>
#include <ImfFrameBuffer.h>
#include <ImfHeader.h>
#include <ImfIO.h>
#include <ImfInputFile.h>
#include <ImfOutputFile.h>
#include <ImfStandardAttributes.h>
#include <ImfDoubleAttribute.h>
#include <ImfFloatAttribute.h>
#include <ImfIntAttribute.h>
#include <ImfStringAttribute.h>

#include "genplug/host/errors.hpp"
#include "genplug/sdk_version.h"
#include "atomic_output.hpp"
#include "fnv1a.hpp"

namespace genplug::host {
namespace {

namespace fs = std::filesystem;

struct CompressionName {
  const char* name;
  Imf::Compression value;
};

constexpr CompressionName kCompressions[] = {
    {"none", Imf::NO_COMPRESSION},   {"rle", Imf::RLE_COMPRESSION},     {"zips", Imf::ZIPS_COMPRESSION},
    {"zip", Imf::ZIP_COMPRESSION},   {"piz", Imf::PIZ_COMPRESSION},     {"pxr24", Imf::PXR24_COMPRESSION},
    {"b44", Imf::B44_COMPRESSION},   {"b44a", Imf::B44A_COMPRESSION},   {"dwaa", Imf::DWAA_COMPRESSION},
    {"dwab", Imf::DWAB_COMPRESSION},
};

// Attribute names the EXR format itself gives a meaning (or a non-string type) to; a metadata key with one
// of these names would corrupt or fail the header.
constexpr const char* kReservedAttributes[] = {
    "channels",          "compression",        "dataWindow", "displayWindow",     "lineOrder",
    "pixelAspectRatio",  "screenWindowCenter", "screenWindowWidth", "tiles",      "type",
    "name",              "version",            "chunkCount", "maxSamplesPerPixel", "dwaCompressionLevel",
    "chromaticities",
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string comma_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

Imf::Compression compression_value(const std::string& name) {
  const std::string canonical = parse_compression(name);
  for (const auto& entry : kCompressions)
    if (canonical == entry.name) return entry.value;
  throw std::logic_error("unreachable: compression " + canonical);
}

// Imf::OStream over a POSIX file descriptor. Errors are sticky: OutputFile's destructor writes the line
// offset table and swallows exceptions, so the writer checks failed() after the file is closed.
class FdOStream : public Imf::OStream {
 public:
  FdOStream(int fd, const std::string& name) : Imf::OStream(name.c_str()), fd_(fd) {}

  void write(const char c[], int n) override {
    if (!error_.empty()) throw Iex::IoExc(error_);
    while (n > 0) {
      const ssize_t written = ::write(fd_, c, static_cast<size_t>(n));
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) {
        const int error = written < 0 ? errno : EIO;
        fail(std::string("write failed: ") + std::strerror(error), error);
      }
      c += written;
      n -= static_cast<int>(written);
      position_ += static_cast<uint64_t>(written);
    }
  }

  uint64_t tellp() override { return position_; }

  void seekp(uint64_t pos) override {
    if (::lseek(fd_, static_cast<off_t>(pos), SEEK_SET) < 0) fail(std::string("seek failed: ") + std::strerror(errno), errno);
    position_ = pos;
  }

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  int error_number() const { return errno_; }

 private:
  [[noreturn]] void fail(const std::string& message, int error_number) {
    error_ = message;
    errno_ = error_number;
    throw Iex::IoExc(message);
  }

  int fd_;
  uint64_t position_ = 0;
  std::string error_;
  int errno_ = 0;
};

void check_image(const ImageRGB& image) {
  if (image.width <= 0 || image.height <= 0)
    throw std::invalid_argument("write_exr: image size " + std::to_string(image.width) + "x" +
                                std::to_string(image.height) + " is not positive");
  const size_t expected = 3 * static_cast<size_t>(image.width) * static_cast<size_t>(image.height);
  if (image.planar.size() != expected)
    throw std::invalid_argument("write_exr: image " + std::to_string(image.width) + "x" +
                                std::to_string(image.height) + " needs " + std::to_string(expected) +
                                " planar RGB values, got " + std::to_string(image.planar.size()));
}

// Standard attributes (OpenEXR's ImfStandardAttributes.h) genplug writes, with the type the format gives them.
constexpr std::pair<const char*, size_t> kStandardAttributeTypes[] = {
    {"capDate", 0}, {"comments", 0}, {"owner", 0}, {"software", 0}, {"utcOffset", 2}};  // variant index

// The attribute `value` as OpenEXR's typed attribute, inserted as `key`.
void insert_attribute(Imf::Header& header, const std::string& key, const ExrAttribute& value) {
  for (const auto& [name, index] : kStandardAttributeTypes)
    if (key == name && value.index() != index)
      throw std::invalid_argument("write_exr: metadata key '" + key + "' is a standard attribute of type " +
                                  (index == 0 ? "string" : "float"));
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) header.insert(key, Imf::StringAttribute(v));
        if constexpr (std::is_same_v<T, int32_t>) header.insert(key, Imf::IntAttribute(v));
        if constexpr (std::is_same_v<T, float>) header.insert(key, Imf::FloatAttribute(v));
        if constexpr (std::is_same_v<T, double>) header.insert(key, Imf::DoubleAttribute(v));
      },
      value);
}

Imf::Header make_header(const ImageRGB& image, const std::vector<std::string>& channels, const ExrMetadata& metadata,
                        const ExrOptions& options) {
  Imf::Header header(image.width, image.height);
  header.compression() = compression_value(options.compression);
  const Imf::PixelType type = options.pixel == ExrOptions::Pixel::half ? Imf::HALF : Imf::FLOAT;
  for (const auto& channel : channels) header.channels().insert(channel, Imf::Channel(type));
  if (const auto& c = options.chromaticities)
    Imf::addChromaticities(header, Imf::Chromaticities(Imath::V2f((*c)[0], (*c)[1]), Imath::V2f((*c)[2], (*c)[3]),
                                                       Imath::V2f((*c)[4], (*c)[5]), Imath::V2f((*c)[6], (*c)[7])));
  if (!options.colorspace.empty()) header.insert("oiio:ColorSpace", Imf::StringAttribute(options.colorspace));
  // OpenEXR 3.1 has no addSoftware(); this is the same attribute (name "software", type string).
  header.insert("software", Imf::StringAttribute(std::string("genplug ") + GENPLUG_SDK_VERSION_STRING));
  for (const auto& [key, value] : metadata) {
    if (key.empty()) throw std::invalid_argument("write_exr: metadata key is empty");
    for (const char* reserved : kReservedAttributes)
      if (key == reserved)
        throw std::invalid_argument("write_exr: metadata key '" + key + "' is reserved by the EXR format");
    insert_attribute(header, key, value);
  }
  return header;
}

// OpenEXR converts pixel types when reading but not when writing: the buffer must match the channel type.
// Thrown between scanline chunks when the host's cancel flag is set; write_exr turns it into HostError(cancelled).
struct WriteCancelled {};

// `values` holds one plane per name of `channels`, in that order.
template <class Pixel>
void write_pixels(Imf::OStream& stream, const Imf::Header& header, const ImageRGB& image, Imf::PixelType type,
                  const std::vector<std::string>& channels, const std::vector<Pixel>& values,
                  const std::atomic<bool>* cancel) {
  const size_t plane = static_cast<size_t>(image.width) * static_cast<size_t>(image.height);
  Imf::FrameBuffer frame;
  for (size_t c = 0; c < channels.size(); ++c)  // OpenEXR only reads through the slices while writing
    frame.insert(channels[c], Imf::Slice(type, reinterpret_cast<char*>(const_cast<Pixel*>(values.data() + c * plane)),
                                         sizeof(Pixel), sizeof(Pixel) * static_cast<size_t>(image.width)));
  Imf::OutputFile file(stream, header);  // threads: Imf::setGlobalThreadCount, the host's choice
  file.setFrameBuffer(frame);
  // In chunks of 64 scanlines, so that a signal stops a long write (a 16K image) within a fraction of a second.
  for (int done = 0; done < image.height;) {
    if (cancel && cancel->load()) throw WriteCancelled{};
    const int rows = std::min(64, image.height - done);
    file.writePixels(rows);
    done += rows;
  }
}

// FNV-1a of the first `count` stored values' bytes (little-endian IEEE float or half bits): the R, G, B planes.
template <class Pixel>
std::string pixels_hash(const std::vector<Pixel>& values, size_t count) {
  return Fnv1a().add(values.data(), count * sizeof(Pixel)).hex();
}

// Stores `values` (a plane per channel) in the file's pixel type, with the hash of R, G, B in the header.
void write_pixels(Imf::OStream& stream, Imf::Header header, const ImageRGB& image,
                  const std::vector<std::string>& channels, const std::vector<float>& values, ExrOptions::Pixel pixel,
                  const std::atomic<bool>* cancel) {
  const size_t rgb = 3 * static_cast<size_t>(image.width) * static_cast<size_t>(image.height);
  if (pixel == ExrOptions::Pixel::float32) {
    header.insert("genplug.pixels.hash", Imf::StringAttribute(pixels_hash(values, rgb)));
    return write_pixels(stream, header, image, Imf::FLOAT, channels, values, cancel);
  }
  const std::vector<half> halves(values.begin(), values.end());  // round to nearest; beyond 65504 -> inf
  header.insert("genplug.pixels.hash", Imf::StringAttribute(pixels_hash(halves, rgb)));
  write_pixels(stream, header, image, Imf::HALF, channels, halves, cancel);
}

// The channel names: R, G, B, then LAYER.R, LAYER.G, LAYER.B for each layer (Nuke reads LAYER as a layer).
std::vector<std::string> channel_names(const std::vector<ExrLayer>& layers) {
  std::vector<std::string> names = {"R", "G", "B"};
  for (const auto& layer : layers)
    for (const char* c : {".R", ".G", ".B"}) names.push_back(layer.name + c);
  return names;
}

void check_layers(const ImageRGB& image, const std::vector<ExrLayer>& layers) {
  std::set<std::string> seen;
  for (const auto& layer : layers) {
    if (layer.name.empty() || layer.name.find_first_of(". ") != std::string::npos || !seen.insert(layer.name).second)
      throw std::invalid_argument("write_exr: layer name '" + layer.name + "' is empty, repeated or holds '.' or ' '");
    if (layer.image.width != image.width || layer.image.height != image.height ||
        layer.image.planar.size() != image.planar.size())
      throw std::invalid_argument("write_exr: layer '" + layer.name + "' is not the image's size");
  }
}

}  // namespace

const std::vector<std::string>& compression_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& entry : kCompressions) out.emplace_back(entry.name);
    return out;
  }();
  return names;
}

std::string parse_compression(const std::string& value) {
  const std::string name = lower(value);
  for (const auto& entry : kCompressions)
    if (name == entry.name) return name;
  throw std::invalid_argument("unknown EXR compression '" + value + "' (allowed: " + comma_list(compression_names()) +
                              ")");
}

ExrOptions::Pixel parse_pixel(const std::string& value) {
  if (value == "half") return ExrOptions::Pixel::half;
  if (value == "float" || value == "float32") return ExrOptions::Pixel::float32;
  throw std::invalid_argument("unknown EXR pixel type '" + value + "' (allowed: half, float)");
}

std::string to_string(ExrOptions::Pixel pixel) { return pixel == ExrOptions::Pixel::half ? "half" : "float"; }

void write_exr(const fs::path& path, const ImageRGB& image, const ExrMetadata& metadata, const ExrOptions& options,
               const std::vector<ExrLayer>& layers) {
  // Everything that can be checked without touching the disk comes first.
  check_image(image);
  check_layers(image, layers);
  const std::vector<std::string> channels = channel_names(layers);
  const Imf::Header header = make_header(image, channels, metadata, options);
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(path, ec);
  if (fs::is_directory(status) || fs::is_directory(fs::status(path, ec))) fail_output(path, "it is a folder");
  if (fs::exists(status) && !options.overwrite) fail_output(path, "the file already exists (overwrite not requested)");

  std::vector<float> values = image.planar;  // a plane per channel: R, G, B, then the layers'
  for (const auto& layer : layers) values.insert(values.end(), layer.image.planar.begin(), layer.image.planar.end());
  TemporaryFile temporary(path);
  FdOStream stream(temporary.fd(), temporary.path().string());
  const auto cancelled = [&] {  // the temporary file goes with `temporary`; the target is untouched
    throw HostError(ErrorKind::cancelled, path.string() + ": cancelled while writing; nothing was written");
  };
  try {
    write_pixels(stream, header, image, channels, values, options.pixel, options.cancel);
  } catch (const WriteCancelled&) {
    cancelled();
  } catch (const std::exception& e) {
    if (stream.failed()) fail_write(path, stream.error(), stream.error_number());
    fail_output(path, e.what());
  }
  if (stream.failed()) fail_write(path, stream.error(), stream.error_number());  // swallowed by ~OutputFile
  temporary.sync_and_close();
  if (options.cancel && options.cancel->load()) cancelled();
  temporary.commit(options.overwrite);
}

namespace {

std::map<std::string, std::string> string_attributes_of(const Imf::Header& header) {
  std::map<std::string, std::string> out;
  for (auto it = header.begin(); it != header.end(); ++it)
    if (const auto* text = dynamic_cast<const Imf::StringAttribute*>(&it.attribute())) out[it.name()] = text->value();
  return out;
}

ExrMetadata typed_attributes_of(const Imf::Header& header) {
  ExrMetadata out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const Imf::Attribute& a = it.attribute();
    if (const auto* s = dynamic_cast<const Imf::StringAttribute*>(&a)) out[it.name()] = s->value();
    if (const auto* i = dynamic_cast<const Imf::IntAttribute*>(&a)) out[it.name()] = int32_t(i->value());
    if (const auto* f = dynamic_cast<const Imf::FloatAttribute*>(&a)) out[it.name()] = f->value();
    if (const auto* d = dynamic_cast<const Imf::DoubleAttribute*>(&a)) out[it.name()] = d->value();
  }
  return out;
}

// The readers take files of at most this width and height: the largest image a manifest may ask for (the
// schema's maximum). OpenEXR checks the limit as it reads the header, before it sizes anything by the data window.
constexpr int kMaxReadSide = 65536;
// What one band of scanlines may take: the readers hold one band of one channel at a time.
constexpr size_t kBandBytes = size_t(16) << 20;

// An EXR opened for reading, with the size limit in force (OpenEXR keeps it process-wide).
Imf::InputFile& open_limited(std::optional<Imf::InputFile>& file, const fs::path& path) {
  static std::once_flag once;
  std::call_once(once, [] {
    Imf::Header::setMaxImageSize(kMaxReadSide, kMaxReadSide);
    Imf::Header::setMaxTileSize(kMaxReadSide, kMaxReadSide);
  });
  return file.emplace(path.c_str());
}

// Hands channel `name` of the whole data window to `sink(values, count)` as T (half or float), row-major, one
// band of scanlines (whole chunks) at a time. Memory stays one band whatever the header claims, and a damaged
// file fails at its first unreadable chunk instead of after a buffer the size of its data window was filled
// (a 589-byte file claiming a window 2^26 x 2 pixels took 82 s and 1.8 GB in the fuzz build when the whole image
// was allocated first). Each channel is a pass of its own, since the hash runs over whole planes.
template <class T, class Sink>
void read_channel(Imf::InputFile& file, const char* name, Sink&& sink) {
  const Imath::Box2i window = file.header().dataWindow();
  const int64_t width = int64_t(window.max.x) - window.min.x + 1;
  if (width < 1 || window.max.y < window.min.y) return;
  size_t rows = std::max<size_t>(1, kBandBytes / (size_t(width) * sizeof(T)));
  for (size_t chunk : {256, 32, 16})  // scanlines per chunk of the compressions (DWAB, PIZ/B44/DWAA, ZIP)
    if (rows >= chunk) {
      rows -= rows % chunk;
      break;
    }
  const Imf::PixelType type = std::is_same_v<T, half> ? Imf::HALF : Imf::FLOAT;
  std::vector<T> band;
  for (int64_t y = window.min.y; y <= window.max.y; y += int64_t(rows)) {
    const int64_t last = std::min<int64_t>(window.max.y, y + int64_t(rows) - 1);
    band.assign(size_t(width) * size_t(last - y + 1), T(0.0f));
    Imf::FrameBuffer frame;
    frame.insert(name, Imf::Slice::Make(type, band.data(), Imath::V2i(window.min.x, int(y)), width, last - y + 1,
                                        sizeof(T), sizeof(T) * size_t(width)));
    file.setFrameBuffer(frame);
    file.readPixels(int(y), int(last));
    sink(band.data(), band.size());
  }
}

}  // namespace

namespace {

// Whether `compression` stores other values than it was given for channels of `type`: B44 and B44A compress half
// channels lossily (float ones are stored as they are), PXR24 rounds float to 24 bits (half is lossless), DWAA and
// DWAB quantise both.
bool lossy(Imf::Compression compression, Imf::PixelType type) {
  switch (compression) {
    case Imf::B44_COMPRESSION:
    case Imf::B44A_COMPRESSION: return type == Imf::HALF;
    case Imf::PXR24_COMPRESSION: return type == Imf::FLOAT;
    case Imf::DWAA_COMPRESSION:
    case Imf::DWAB_COMPRESSION: return true;
    default: return false;
  }
}

}  // namespace

bool exr_pixels_intact(const fs::path& path) {
  try {
    std::optional<Imf::InputFile> opened;
    Imf::InputFile& file = open_limited(opened, path);
    const Imf::Header& header = file.header();
    const auto* recorded = header.findTypedAttribute<Imf::StringAttribute>("genplug.pixels.hash");
    const Imf::Channel* r = header.channels().findChannel("R");
    if (!recorded || !r) return false;
    // The R, G, B planes as stored (R's pixel type), hashed in that order. A lossy compression stores other values
    // than those hashed (the render's, before compression): there every chunk of R, G and B must decode, which
    // finds a file cut short and most damage (zlib's checksums inside PXR24 and DWA chunks), not every bit flip.
    const bool compare = !lossy(header.compression(), r->type);
    Fnv1a hash;
    for (const char* name : {"R", "G", "B"}) {
      if (r->type == Imf::HALF)
        read_channel<half>(file, name, [&](const half* v, size_t n) { hash.add(v, n * sizeof(half)); });
      else
        read_channel<float>(file, name, [&](const float* v, size_t n) { hash.add(v, n * sizeof(float)); });
    }
    return !compare || hash.hex() == recorded->value();
  } catch (const std::exception&) {
    return false;  // truncated, damaged or not an EXR
  }
}

bool compression_is_lossy(const std::string& name, ExrOptions::Pixel pixel) {
  return lossy(compression_value(name), pixel == ExrOptions::Pixel::half ? Imf::HALF : Imf::FLOAT);
}

StoredCompression exr_stored_compression(const fs::path& path) {
  try {
    std::optional<Imf::InputFile> file;
    const Imf::Header& header = open_limited(file, path).header();
    const Imf::Channel* r = header.channels().findChannel("R");
    if (!r) throw std::runtime_error("no R channel");
    for (const auto& [name, value] : kCompressions)
      if (value == header.compression()) return {name, lossy(value, r->type)};
    throw std::runtime_error("unknown compression " + std::to_string(int(header.compression())));
  } catch (const std::exception& e) {
    throw HostError(ErrorKind::output, "cannot read EXR '" + path.string() + "': " + e.what());
  }
}

std::map<std::string, std::string> read_exr_attributes(const fs::path& path) {
  try {
    std::optional<Imf::InputFile> file;
    return string_attributes_of(open_limited(file, path).header());
  } catch (const std::exception& e) {
    throw HostError(ErrorKind::output, "cannot read EXR '" + path.string() + "': " + e.what());
  }
}

std::pair<int, int> exr_size(const fs::path& path) {
  try {
    std::optional<Imf::InputFile> file;
    const Imath::Box2i window = open_limited(file, path).header().dataWindow();
    const int64_t w = int64_t(window.max.x) - window.min.x + 1, h = int64_t(window.max.y) - window.min.y + 1;
    if (w < 1 || h < 1 || w > kMaxReadSide || h > kMaxReadSide) throw std::runtime_error("data window out of range");
    return {int(w), int(h)};
  } catch (const std::exception& e) {
    throw HostError(ErrorKind::output, "cannot read EXR '" + path.string() + "': " + e.what());
  }
}

ExrMetadata read_exr_metadata(const fs::path& path) {
  try {
    std::optional<Imf::InputFile> file;
    return typed_attributes_of(open_limited(file, path).header());
  } catch (const std::exception& e) {
    throw HostError(ErrorKind::output, "cannot read EXR '" + path.string() + "': " + e.what());
  }
}

ImageRGB read_exr(const fs::path& path, std::map<std::string, std::string>* string_attributes,
                  const std::string& layer) {
  try {
    std::optional<Imf::InputFile> opened;
    Imf::InputFile& file = open_limited(opened, path);
    const Imf::Header& header = file.header();
    const std::string prefix = layer.empty() ? "" : layer + ".";
    const auto has = [&](const char* c) { return header.channels().findChannel(prefix + c) != nullptr; };
    // The layer's own channels (not those of layers under it): greyscale is Y alone, or with A. Y beside others
    // (chroma RY and BY, or X and Z) would need its own conversion, and is refused rather than read as grey.
    std::vector<std::string> own;
    for (auto c = header.channels().begin(); c != header.channels().end(); ++c) {
      const std::string name = c.name();
      if (name.compare(0, prefix.size(), prefix) == 0 && name.find('.', prefix.size()) == std::string::npos)
        own.push_back(name.substr(prefix.size()));
    }
    const bool grey = has("Y") && std::all_of(own.begin(), own.end(), [](const std::string& c) { return c == "Y" || c == "A"; });
    const std::vector<std::string> names =
        grey ? std::vector<std::string>{prefix + "Y"} : std::vector<std::string>{prefix + "R", prefix + "G", prefix + "B"};
    for (const std::string& channel : names)
      if (!header.channels().findChannel(channel))
        throw HostError(ErrorKind::output, "cannot read EXR '" + path.string() + "': no channel " + channel +
                                               (has("Y") ? " (Y is greyscale only alone or with A; channels: " +
                                                               comma_list(own) + ")"
                                                         : " (nor a greyscale Y channel)"));
    const Imath::Box2i window = header.dataWindow();
    ImageRGB image;
    image.width = window.max.x - window.min.x + 1;
    image.height = window.max.y - window.min.y + 1;
    // Grown as bands arrive: a damaged file fails before the image's full size is allocated.
    for (const std::string& name : names)
      read_channel<float>(file, name.c_str(),
                          [&](const float* v, size_t n) { image.planar.insert(image.planar.end(), v, v + n); });
    if (grey) {  // Y into G and B as well
      const size_t plane = image.planar.size();
      image.planar.resize(3 * plane);
      std::copy_n(image.planar.begin(), plane, image.planar.begin() + long(plane));
      std::copy_n(image.planar.begin(), plane, image.planar.begin() + long(2 * plane));
    }
    if (string_attributes) *string_attributes = string_attributes_of(header);
    return image;
  } catch (const HostError&) {
    throw;
  } catch (const std::exception& e) {
    throw HostError(ErrorKind::output, "cannot read EXR '" + path.string() + "': " + e.what());
  }
}

}  // namespace genplug::host
