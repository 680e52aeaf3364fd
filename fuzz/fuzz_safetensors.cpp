// libFuzzer target: the safetensors reader (header JSON, tensor table, offsets) and what `genplug inspect`
// derives from the table (FLUX component detection, inferred configs, LoRA plans), on arbitrary bytes.
//
// Input: the bytes of a .safetensors file; or, when it starts with '{', a *.safetensors.index.json whose
// neighbour "shard.safetensors" is a small valid file (tensors "a" [2, 2] F32 and "b" [3] BF16).
#include <cstdint>
#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include <genplug/flux/checkpoint_layout.hpp>
#include <genplug/safetensors.hpp>

#include "checkpoint_report.hpp"
#include "fuzz_support.hpp"

namespace st = genplug::safetensors;
namespace gf = genplug::fuzz;

namespace {

gf::MemFile* input = nullptr;
gf::ScratchDir* scratch = nullptr;
std::filesystem::path as_file, as_index;

void touch_file(const st::File& file) {
  std::size_t converted = 0;
  for (const st::TensorInfo& t : file.tensors()) {
    if (file.find(t.name) != &t || &file.at(t.name) != &t) __builtin_trap();
    (void)t.numel();
    (void)st::dtype_name(t.dtype);
    // The values of small tensors (every byte is read: ASan checks them against the mapping).
    if (t.nbytes <= 4096 && converted < 65536) {
      converted += t.nbytes;
      const auto f32 = st::to_float32(t);
      const auto f64 = st::to_float64(t);
      if (f32.size() != static_cast<std::size_t>(t.numel()) || f64.size() != f32.size()) __builtin_trap();
    }
  }
  for (const auto& [key, value] : file.metadata()) (void)value.size();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  input = new gf::MemFile("safetensors");
  scratch = new gf::ScratchDir();
  as_file = scratch->link("model.safetensors", *input);
  as_index = scratch->link("model.safetensors.index.json", *input);
  const std::vector<float> a = {1.0f, -2.0f, 0.5f, 3.0f};
  st::TensorData b{"b", st::DType::BF16, {3}, {0x80, 0x3f, 0x00, 0x40, 0x40, 0x40}};
  st::write_file(scratch->path() / "shard.safetensors", {st::TensorData::from_floats("a", {2, 2}, a), b},
                 {{"format", "pt"}});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  input->write(data, size);
  const bool index = size > 0 && data[0] == '{';
  try {
    const st::Checkpoint checkpoint(index ? as_index : as_file);
    for (const auto& file : checkpoint.files()) touch_file(*file);
    for (const st::TensorInfo& t : checkpoint.tensors())
      if (checkpoint.find(t.name) != &t) __builtin_trap();
    (void)checkpoint.total_bytes();
    // What org.genplug.flux.inspect's probe() and inspect() do with it.
    (void)genplug::flux::holds_flux_weights(checkpoint);
    const nlohmann::json report = genplug::flux::checkpoint_report(checkpoint);
    (void)report.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const st::Error&) {
  } catch (const genplug::flux::WeightError&) {
  } catch (const std::exception& e) {
    // Not a crash for the host (the SDK turns it into an error status), but a message the user cannot act on.
    gf::finding("safetensors", std::string("unexpected exception: ") + e.what(), data, size);
  }
  return 0;
}
