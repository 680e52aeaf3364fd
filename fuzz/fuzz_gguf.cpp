// libFuzzer target: the GGUF reader (header, metadata of every value type, tensor table, offsets) on arbitrary
// bytes, then every tensor's values, what the FLUX loader derives from the names and shapes (layout, key plan,
// inferred config) before it would create any tensor, and what `genplug inspect` prints (gguf_report).
//
// Input: the bytes of a .gguf file.
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include <genplug/flux/checkpoint_layout.hpp>
#include <genplug/flux/transformer_keys.hpp>
#include <genplug/gguf.hpp>

#include "gguf_report.hpp"

namespace gguf = genplug::gguf;
namespace flux = genplug::flux;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<const gguf::File> file;
  try {
    file = gguf::File::parse(std::vector<uint8_t>(data, data + size), "fuzz.gguf");
  } catch (const gguf::Error&) {
    return 0;
  }
  flux::ShapeMap shapes;
  std::size_t converted = 0;
  for (const gguf::TensorInfo& t : file->tensors()) {
    if (file->find(t.name) != &t || gguf::byte_size(t.type, t.shape) != t.nbytes) __builtin_trap();
    shapes.emplace(t.name, t.shape);
    if (t.nbytes <= 4096 && converted < 65536) {  // every byte read: ASan checks them against the buffer
      converted += t.nbytes;
      if (gguf::to_float32(t).size() != static_cast<std::size_t>(t.numel())) __builtin_trap();
    }
  }
  const auto report = flux::gguf_report(*file);
  if (report.at("tensor_count").get<std::size_t>() != file->tensors().size()) __builtin_trap();
  (void)report.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  try {
    const flux::ShapeMap bfl = flux::bfl_transformer_shapes(shapes, file->name());
    flux::infer_flux_config(bfl, file->name());
  } catch (const flux::WeightError&) {
  }
  return 0;
}
