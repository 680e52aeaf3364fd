// Writes the generated part of the seed corpora (fuzz/README.md): small safetensors files (FLUX components and
// LoRAs with tiny shapes, every dtype, near-valid variants), EXR images in every compression, SentencePiece
// models (a unigram model trained by libsentencepiece with a small custom normalisation table, as T5's layout).
// The hand-written seeds (JSON configs, manifests, prompts) are files in fuzz/corpus themselves.
//
//   cmake --build build-fuzz --target fuzz_make_seeds && build-fuzz/fuzz/fuzz_make_seeds fuzz/corpus
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <genplug/flux/transformer_keys.hpp>
#include <genplug/host/exr_writer.hpp>
#include <genplug/safetensors.hpp>

#ifdef GENPLUG_FUZZ_HAVE_SPM_TRAIN
#include <sentencepiece_trainer.h>
#endif

#include "tiny_text_files.hpp"

namespace fs = std::filesystem;
namespace st = genplug::safetensors;
namespace gx = genplug::flux;

namespace {

fs::path out;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(out / target);
  std::ofstream(out / target / name, std::ios::binary) << bytes;
  std::cout << target << "/" << name << " (" << bytes.size() << " bytes)\n";
}

// A tensor of zeros with this shape (data is not what the parsers look at; F8 keeps the files small).
st::TensorData zeros(const std::string& name, std::vector<int64_t> shape, st::DType dtype = st::DType::F8_E4M3) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  st::TensorData t{name, dtype, std::move(shape), {}};
  t.bytes.assign(static_cast<std::size_t>(n) * st::dtype_size(dtype), 0);
  return t;
}

std::string safetensors_bytes(const std::vector<st::TensorData>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  const fs::path tmp = out / ".tmp.safetensors";
  st::write_file(tmp, tensors, metadata);
  std::string bytes = read(tmp);
  fs::remove(tmp);
  return bytes;
}

// The names of a golden checkpoint, blocks after the first left out, with every dimension cut to at most 2
// (the header's structure, tiny data).
std::vector<st::TensorData> shrunk(const fs::path& golden, std::size_t max_tensors = 1000) {
  std::vector<st::TensorData> tensors;
  const auto file = st::File::open(golden);
  for (const auto& t : file->tensors()) {
    bool later_block = false;
    for (std::size_t i = t.name.find('.'); i != std::string::npos && !later_block; i = t.name.find('.', i + 1))
      later_block = i + 2 < t.name.size() && t.name[i + 1] >= '1' && t.name[i + 1] <= '9' &&
                    t.name.find('.', i + 1) != std::string::npos &&
                    t.name.find_first_not_of("0123456789", i + 1) == t.name.find('.', i + 1);
    if (later_block) continue;
    if (tensors.size() == max_tensors) break;
    std::vector<int64_t> shape = t.shape;
    for (auto& d : shape) d = std::min<int64_t>(d, 2);
    tensors.push_back(zeros(t.name, shape));
  }
  return tensors;
}

void safetensors_seeds(const fs::path& golden) {
  // FLUX transformer, BFL keys: the shapes a tiny config implies (hidden 2, 1 head, one block of each kind).
  gx::FluxConfig c;
  c.in_channels = c.out_channels = 4;
  c.vec_in_dim = c.context_in_dim = 2;
  c.hidden_size = 2, c.num_heads = 1, c.mlp_ratio = 2.0, c.depth = 1, c.depth_single_blocks = 1;
  c.axes_dim = {2};
  std::vector<st::TensorData> bfl;
  for (const auto& [name, shape] : gx::expected_flux_shapes(c)) bfl.push_back(zeros(name, shape));
  put("safetensors", "flux-bfl-tiny", safetensors_bytes(bfl, {{"format", "pt"}}));
  put("safetensors", "flux-diffusers", safetensors_bytes(shrunk(golden / "flux/flux_tiny_diffusers.safetensors")));
  put("safetensors", "vae-bfl", safetensors_bytes(shrunk(golden / "vae/vae_tiny_bfl.safetensors", 30)));
  put("safetensors", "t5", safetensors_bytes(shrunk(golden / "t5/t5_tiny.safetensors")));
  put("safetensors", "clip", safetensors_bytes(shrunk(golden / "clip/clip_text_tiny.safetensors")));

  // LoRAs in the three key formats, rank 1 on a hidden size of 2.
  st::TensorData alpha = st::TensorData::from_floats("lora_unet_double_blocks_0_img_attn_qkv.alpha", {}, {1.0f});
  put("safetensors", "lora-kohya",
      safetensors_bytes({zeros("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", {1, 2}, st::DType::F32),
                         zeros("lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", {6, 1}, st::DType::F32), alpha,
                         zeros("lora_unet_single_blocks_3_linear1.lora_down.weight", {1, 2}, st::DType::BF16),
                         zeros("lora_unet_single_blocks_3_linear1.lora_up.weight", {14, 1}, st::DType::BF16),
                         zeros("lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", {1, 2})}));
  put("safetensors", "lora-diffusers",
      safetensors_bytes({zeros("transformer.transformer_blocks.0.attn.to_q.lora_A.weight", {1, 2}),
                         zeros("transformer.transformer_blocks.0.attn.to_q.lora_B.weight", {2, 1}),
                         zeros("transformer.single_transformer_blocks.1.proj_mlp.lora_A.weight", {1, 2}),
                         zeros("transformer.single_transformer_blocks.1.proj_mlp.lora_B.weight", {8, 1}),
                         zeros("transformer.norm_out.linear.lora_A.weight", {1, 2}),
                         zeros("transformer.norm_out.linear.lora_B.weight", {4, 1})},
                        {{"format", "pt"}, {"lora_alpha", "1"}}));
  put("safetensors", "lora-bfl",
      safetensors_bytes({zeros("diffusion_model.double_blocks.0.img_attn.qkv.lora_A.weight", {1, 2}),
                         zeros("diffusion_model.double_blocks.0.img_attn.qkv.lora_B.weight", {6, 1}),
                         zeros("diffusion_model.final_layer.linear.lora_down.weight", {1, 2}),
                         zeros("diffusion_model.final_layer.linear.lora_up.weight", {4, 1})}));

  // One tensor of every dtype, values that exercise the conversions (NaN, inf, subnormals, negative zero).
  std::vector<st::TensorData> dtypes;
  const st::DType all[] = {st::DType::F64, st::DType::F32, st::DType::F16, st::DType::BF16, st::DType::F8_E4M3,
                           st::DType::F8_E5M2, st::DType::I64, st::DType::I32, st::DType::I16, st::DType::I8,
                           st::DType::U8, st::DType::BOOL};
  for (st::DType d : all) {
    st::TensorData t{std::string("t_") + st::dtype_name(d), d, {2, 2}, {}};
    for (std::size_t i = 0; i < 4 * st::dtype_size(d); ++i) t.bytes.push_back(static_cast<uint8_t>(0x7F + 0x35 * i));
    dtypes.push_back(std::move(t));
  }
  dtypes.push_back(zeros("empty", {0, 3}, st::DType::F32));
  dtypes.push_back(zeros("scalar", {}, st::DType::F16));
  const std::string dtype_file = safetensors_bytes(dtypes, {{"format", "pt"}, {"note", "every dtype"}});
  put("safetensors", "dtypes", dtype_file);

  // Near-valid headers, written by hand (each a single change from a valid file).
  auto raw = [](const std::string& header, const std::string& data) {
    std::string bytes(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(n >> (8 * i));
    return bytes + header + data;
  };
  const std::string d16(16, '\1');
  put("safetensors", "gap-and-empty",
      raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"z":{"dtype":"I8","shape":[0],"data_offsets":[3,3]}})", d16));
  put("safetensors", "overlap",
      raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", d16));
  put("safetensors", "bad-metadata", raw(R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d16));
  put("safetensors", "huge-shape",
      raw(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296,2],"data_offsets":[0,16]}})", d16));
  put("safetensors", "truncated", dtype_file.substr(0, dtype_file.size() - 5));
  put("safetensors", "index", R"({"metadata":{"total_size":22},"weight_map":{"a":"shard.safetensors","b":"shard.safetensors"}})");
  put("safetensors", "index-missing", R"({"weight_map":{"a":"shard.safetensors","c":"other.safetensors"}})");
}

void exr_seeds() {
  genplug::host::ImageRGB image;
  image.width = 3, image.height = 2;
  image.planar = {0.0f, 0.25f, 0.5f, 1.0f, -0.5f, 2.0f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 1e-3f, 7.0f, 65504.0f, 1e6f, 0.5f, 0.5f};
  for (const std::string& compression : {"none", "rle", "zip", "piz", "pxr24", "b44", "dwaa"})
    for (auto pixel : {genplug::host::ExrOptions::Pixel::half, genplug::host::ExrOptions::Pixel::float32}) {
      if (pixel == genplug::host::ExrOptions::Pixel::float32 && compression != "zip" && compression != "none") continue;
      genplug::host::ExrOptions o;
      o.compression = compression;
      o.pixel = pixel;
      const fs::path tmp = out / "seed.exr";
      fs::remove(tmp);
      genplug::host::write_exr(tmp, image, {{"genplug.prompt", "a red house"}, {"genplug.seed", "7"}}, o);
      const std::string name = compression + (pixel == genplug::host::ExrOptions::Pixel::half ? "-half" : "-float");
      const std::string bytes = read(tmp);
      put("exr", name, bytes);
      if (compression == "zip" && pixel == genplug::host::ExrOptions::Pixel::half)
        put("exr", "zip-half-truncated", bytes.substr(0, bytes.size() - 9));
      fs::remove(tmp);
    }
}

void sentencepiece_seeds() {
  const std::string hand = genplug::test::tiny_text_detail::sentencepiece_model();
  put("sentencepiece_model", "hand-written", hand);
  put("sentencepiece_model", "truncated", hand.substr(0, hand.size() / 2));
#ifdef GENPLUG_FUZZ_HAVE_SPM_TRAIN
  // As tests/text/test_t5_tokenizer.cpp trains it (T5's special ids), with a custom normalisation table of a few
  // rules so that the model carries a small precompiled charsmap (darts-clone trie + replacements).
  const fs::path dir = out / ".spm";
  fs::create_directories(dir);
  {
    std::ofstream corpus(dir / "corpus.txt");
    const char* words[] = {"a", "photo", "of", "the", "cat", "dog", "on", "mat", "red", "blue", "house", "caf\xC3\xA9"};
    unsigned state = 12345;
    for (int line = 0; line < 200; ++line) {
      for (int w = 0; w < 7; ++w) {
        state = state * 1103515245u + 12345u;
        corpus << (w ? " " : "") << words[(state >> 16) % (sizeof words / sizeof *words)];
      }
      corpus << ".\n";
    }
    // source code points -> target code points (hex): fullwidth A -> A, ligature fi -> f i, NBSP -> space,
    // e + combining acute -> é, Roman numeral one -> I.
    std::ofstream(dir / "rules.tsv") << "FF21\t41\nFB01\t66 69\nA0\t20\n65 301\tE9\n2160\t49\n3000\t20\n";
  }
  const auto status = sentencepiece::SentencePieceTrainer::Train(
      "--input=" + (dir / "corpus.txt").string() + " --model_prefix=" + (dir / "spiece").string() +
      " --vocab_size=40 --model_type=unigram --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1"
      " --hard_vocab_limit=false --minloglevel=2 --user_defined_symbols=<extra_id_0>"
      " --normalization_rule_tsv=" + (dir / "rules.tsv").string());
  if (!status.ok()) {
    std::cerr << "SentencePiece training failed: " << status.ToString() << "\n";
  } else {
    const std::string trained = read(dir / "spiece.model");
    put("sentencepiece_model", "trained-charsmap", trained);
  }
  fs::remove_all(dir);
#else
  std::cout << "(no libsentencepiece_train: trained-charsmap not written)\n";
#endif
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_seeds CORPUS_DIR (fuzz/corpus)\n";
    return 2;
  }
  out = argv[1];
  const fs::path golden = fs::path(GENPLUG_SOURCE_DIR) / "tests" / "golden";
  try {
    safetensors_seeds(golden);
    exr_seeds();
    sentencepiece_seeds();
  } catch (const std::exception& e) {
    std::cerr << "fuzz_make_seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
