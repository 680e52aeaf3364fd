#define BOOST_TEST_MODULE flux_weights
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include <genplug/flux/ggml_block_tensors.hpp>
#include <genplug/flux/q8_0_layout.hpp>
#include <genplug/flux/weights.hpp>
#include <genplug/safetensors.hpp>
#include <nlohmann/json.hpp>

#include "flux_params.hpp"
#include "gguf_of_block_types.hpp"
#include "gguf_of_safetensors.hpp"
#include "golden.hpp"

namespace st = genplug::safetensors;
namespace gf = genplug::flux;
namespace fs = std::filesystem;

namespace {

fs::path golden_flux(const std::string& file) { return genplug::test::golden("flux/" + file); }

struct Scratch {
  fs::path dir = fs::temp_directory_path() / ("genplug-weights-" + std::to_string(::getpid()));
  Scratch() {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() { fs::remove_all(dir); }
};

gf::FluxConfig golden_config() { return genplug::test::golden_flux_config(); }

// Re-writes a checkpoint's tensors with names transformed by `rename` (empty result: dropped) and `extra` added.
template <typename Rename>
void rewrite(const fs::path& from, const fs::path& to, Rename rename, std::vector<st::TensorData> extra = {}) {
  const auto file = st::File::open(from);
  std::vector<st::TensorData> out = std::move(extra);
  for (const auto& info : file->tensors()) {
    const std::string name = rename(info.name);
    if (name.empty()) continue;
    st::TensorData t;
    t.name = name;
    t.dtype = info.dtype;
    t.shape = info.shape;
    t.bytes.assign(info.data, info.data + info.nbytes);
    out.push_back(std::move(t));
  }
  st::write_file(to, out);
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(float32_on_cpu_is_zero_copy_and_outlives_the_checkpoint) {
  gf::TensorMap tensors;
  std::vector<float> expected;
  {
    st::Checkpoint checkpoint(golden_flux("flux_tiny_bfl.safetensors"));
    tensors = gf::load_tensors(checkpoint, torch::kFloat32, torch::kCPU);
    BOOST_REQUIRE_EQUAL(tensors.size(), checkpoint.tensors().size());
    for (const auto& info : checkpoint.tensors()) {
      const auto& t = tensors.at(info.name);
      BOOST_TEST(t.data_ptr() == static_cast<const void*>(info.data));  // a view of the mapping
      BOOST_TEST(t.sizes().vec() == info.shape, boost::test_tools::per_element());
    }
    expected = st::to_float32(checkpoint.at("img_in.weight"));
  }
  // Checkpoint gone: the tensors keep the mapping alive.
  const auto& w = tensors.at("img_in.weight").contiguous();
  BOOST_REQUIRE_EQUAL(static_cast<size_t>(w.numel()), expected.size());
  BOOST_TEST(std::memcmp(w.data_ptr<float>(), expected.data(), expected.size() * 4) == 0);
}

BOOST_AUTO_TEST_CASE(in_place_writes_stay_private) {
  const fs::path path = golden_flux("flux_tiny_bfl.safetensors");
  float before;
  {
    st::Checkpoint checkpoint(path);
    auto t = gf::load_tensor(checkpoint.at("img_in.bias"), torch::kFloat32, torch::kCPU);
    before = t[0].item<float>();
    t.mul_(2.0f);  // copy-on-write page: no fault, file untouched
    BOOST_TEST(t[0].item<float>() == 2.0f * before);
  }
  st::Checkpoint again(path);
  BOOST_TEST(gf::load_tensor(again.at("img_in.bias"), torch::kFloat32, torch::kCPU)[0].item<float>() == before);
}

BOOST_AUTO_TEST_CASE(converted_loads_match_the_exact_decoder) {
  Scratch s;
  // The same values stored as F16, BF16, F8_E4M3, F64 and loaded as float32 / bfloat16.
  std::vector<float> values = {1.0f, -2.5f, 0.375f, 448.0f, std::ldexp(1.0f, -9), 0.0f};
  std::vector<st::TensorData> tensors;
  auto add = [&](st::DType dtype, auto encode) {
    st::TensorData t;
    t.name = st::dtype_name(dtype);
    t.dtype = dtype;
    t.shape = {2, 3};
    for (float v : values) encode(t.bytes, v);
    tensors.push_back(t);
  };
  add(st::DType::F16, [](std::vector<uint8_t>& b, float v) {
    const uint16_t h = st::float_to_f16(v);
    b.push_back(h & 0xFF);
    b.push_back(h >> 8);
  });
  add(st::DType::BF16, [](std::vector<uint8_t>& b, float v) {
    const uint16_t h = st::float_to_bf16(v);
    b.push_back(h & 0xFF);
    b.push_back(h >> 8);
  });
  const std::map<float, uint8_t> e4m3 = {{1.0f, 0x38}, {-2.5f, 0xC2}, {0.375f, 0x2C}, {448.0f, 0x7E},
                                         {std::ldexp(1.0f, -9), 0x01}, {0.0f, 0x00}};
  add(st::DType::F8_E4M3, [&](std::vector<uint8_t>& b, float v) { b.push_back(e4m3.at(v)); });
  add(st::DType::F64, [](std::vector<uint8_t>& b, float v) {
    const double d = v;
    const auto* p = reinterpret_cast<const uint8_t*>(&d);
    b.insert(b.end(), p, p + 8);
  });
  st::write_file(s.dir / "mixed.safetensors", tensors);
  st::Checkpoint checkpoint(s.dir / "mixed.safetensors");
  const auto expected = torch::tensor(values).reshape({2, 3});
  for (const auto& info : checkpoint.tensors()) {
    BOOST_TEST_CONTEXT(info.name) {
      const auto f32 = gf::load_tensor(info, torch::kFloat32, torch::kCPU);
      BOOST_TEST((f32.scalar_type() == torch::kFloat32));
      BOOST_TEST(f32.data_ptr() != static_cast<const void*>(info.data));  // a converted copy
      BOOST_TEST(torch::equal(f32, expected));  // every value above is exact in each format
      const auto bf16 = gf::load_tensor(info, torch::kBFloat16, torch::kCPU);
      BOOST_TEST((bf16.scalar_type() == torch::kBFloat16));
      BOOST_TEST(torch::equal(bf16, expected.to(torch::kBFloat16)));
    }
  }
  // Integer tensors keep their type.
  st::TensorData ids;
  ids.name = "ids";
  ids.dtype = st::DType::I32;
  ids.shape = {2};
  ids.bytes = {5, 0, 0, 0, 7, 0, 0, 0};
  st::write_file(s.dir / "ids.safetensors", {ids});
  const auto t = gf::load_tensors(st::Checkpoint(s.dir / "ids.safetensors"), torch::kBFloat16, torch::kCPU).at("ids");
  BOOST_TEST((t.scalar_type() == torch::kInt32));
  BOOST_TEST(t[1].item<int>() == 7);
}

BOOST_AUTO_TEST_CASE(diffusers_golden_converts_exactly_to_the_bfl_golden) {
  st::Checkpoint bfl_ckpt(golden_flux("flux_tiny_bfl.safetensors"));
  const auto bfl = gf::load_tensors(bfl_ckpt, torch::kFloat32, torch::kCPU);
  const auto diffusers =
      gf::load_tensors(st::Checkpoint(golden_flux("flux_tiny_diffusers.safetensors")), torch::kFloat32, torch::kCPU);
  const auto converted = gf::diffusers_to_bfl_transformer(diffusers);
  BOOST_REQUIRE_EQUAL(converted.size(), bfl.size());
  for (const auto& [name, t] : bfl) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_REQUIRE(converted.count(name));
      BOOST_TEST(torch::equal(converted.at(name), t));  // bit-exact
    }
  }
}

BOOST_AUTO_TEST_CASE(load_flux_transformer_gives_identical_weights_from_both_layouts) {
  const auto config = golden_config();
  st::Checkpoint bfl_ckpt(golden_flux("flux_tiny_bfl.safetensors"));
  st::Checkpoint diffusers_ckpt(golden_flux("flux_tiny_diffusers.safetensors"));
  const auto a = gf::load_flux_transformer(bfl_ckpt, config, torch::kFloat32, torch::kCPU);
  const auto b = gf::load_flux_transformer(diffusers_ckpt, config, torch::kFloat32, torch::kCPU);
  BOOST_TEST((a.keys.layout == gf::TransformerLayout::bfl));
  BOOST_TEST((b.keys.layout == gf::TransformerLayout::diffusers));
  BOOST_TEST(a.ignored.empty());
  BOOST_TEST(b.ignored.empty());
  BOOST_TEST(a.config.hidden_size == config.hidden_size);
  BOOST_TEST(a.config.axes_dim == config.axes_dim, boost::test_tools::per_element());
  const auto expected = gf::expected_flux_shapes(config);
  BOOST_REQUIRE_EQUAL(a.tensors.size(), expected.size());
  BOOST_REQUIRE_EQUAL(b.tensors.size(), expected.size());
  for (const auto& [name, shape] : expected) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(a.tensors.at(name).sizes().vec() == shape, boost::test_tools::per_element());
      BOOST_TEST(torch::equal(a.tensors.at(name), b.tensors.at(name)));
    }
  }
  // bfloat16 load: the same values rounded once.
  const auto c = gf::load_flux_transformer(diffusers_ckpt, config, torch::kBFloat16, torch::kCPU);
  const std::string qkv = genplug::test::flux_first_attention_module(config.depth) + ".weight";
  BOOST_TEST(torch::equal(c.tensors.at(qkv), a.tensors.at(qkv).to(torch::kBFloat16)));
  // Without an explicit config a head dim other than FLUX.1's 128 leaves axes_dim unknown: a clear error, not
  // a guess.
  if (config.head_dim() != 128) {
    const auto m = error_of([&] { gf::load_flux_transformer(bfl_ckpt, std::nullopt, torch::kFloat32, torch::kCPU); });
    BOOST_TEST(contains(m, "axes_dim"));
    BOOST_TEST(contains(m, "flux_tiny_bfl.safetensors"));
  }
}

namespace {

// The bytes of `w`'s tensors that are no view of a tensor at `mapped` (a checkpoint's own data).
double copied_bytes(const gf::FluxTransformerWeights& w, const std::set<const void*>& mapped) {
  double bytes = 0;
  for (const auto& [name, t] : w.tensors)
    if (!mapped.count(t.data_ptr())) bytes += double(t.nbytes());
  return bytes;
}

// The values of `w`'s float matrices (what int8 quantizes; Q8_0 blocks and their scales are not) and the largest.
std::pair<double, double> matrix_values(const gf::FluxTransformerWeights& w) {
  double values = 0, largest = 0;
  for (const auto& [name, t] : w.tensors)
    if (t.dim() == 2 && t.is_floating_point() && name.find(gf::q8_0_scale_name("")) == std::string::npos) {
      values += double(t.numel());
      largest = std::max(largest, double(t.numel()));
    }
  return {values, largest};
}

}  // namespace

// BeforeLoad is told, once and before anything is read, the model and the bytes the load then copies out of the
// file: none for the stored dtype of a BFL file (views of the mapping), the concatenated projections of a diffusers
// file, every tensor in another dtype, and every tensor of a GGUF file; and besides, at the peak, the parts of a
// merge where they are copies (diffusers' projections in another dtype). A BeforeLoad that throws stops the load.
BOOST_FIXTURE_TEST_CASE(before_load_is_told_what_the_load_copies, Scratch) {
  const auto config = golden_config();
  for (const char* layout : {"flux_tiny_bfl.safetensors", "flux_tiny_diffusers.safetensors"}) {
    st::Checkpoint checkpoint(golden_flux(layout));
    std::set<const void*> mapped;
    for (const auto& info : checkpoint.tensors()) mapped.insert(info.data);
    const bool diffusers = std::string(layout).find("diffusers") != std::string::npos;
    for (const torch::ScalarType dtype : {torch::kFloat32, torch::kBFloat16}) {
      BOOST_TEST_CONTEXT(layout << " as " << dtype) {
        int calls = 0;
        gf::LoadBytes told;
        told.copied = -1;
        const auto w = gf::load_flux_transformer(checkpoint, config, dtype, torch::kCPU, [&](const gf::LoadBytes& b) {
          ++calls;
          told = b;
        });
        BOOST_TEST(calls == 1);
        BOOST_TEST(told.copied == copied_bytes(w, mapped));
        BOOST_TEST(told.config.hidden_size == config.hidden_size);
        BOOST_TEST(told.matrix_values == matrix_values(w).first);
        BOOST_TEST(told.largest_matrix == matrix_values(w).second);
        BOOST_TEST(told.config.depth == config.depth);
        const bool stored = dtype == torch::kFloat32 && checkpoint.tensors().front().dtype == st::DType::F32;
        BOOST_TEST((told.copied == 0) == (stored && !diffusers));
        BOOST_TEST((told.temporary > 0) == (diffusers && !stored));
      }
    }
    BOOST_CHECK_THROW(gf::load_flux_transformer(checkpoint, config, torch::kBFloat16, torch::kCPU,
                                                [](const gf::LoadBytes&) { throw std::runtime_error("too large"); }),
                      std::runtime_error);
    const fs::path gguf = dir / "checkpoint.gguf";
    genplug::test::write_gguf_of(*st::File::open(golden_flux(layout)), gguf);
    gf::LoadBytes told;
    const auto w =
        gf::load_flux_transformer(gguf, config, torch::kFloat32, torch::kCPU, [&](const gf::LoadBytes& b) { told = b; });
    BOOST_TEST(told.copied == copied_bytes(w, {}), layout);
    BOOST_TEST(told.temporary > 0, layout);
    BOOST_TEST(told.matrix_values == matrix_values(w).first, layout);  // Q8_0 matrices are not quantized again
  }
}

// GGUF files of both layouts (gguf_of_safetensors.hpp: matrices with whole blocks as Q8_0). Every such BFL matrix
// stays Q8_0 (q int8 and d f16 under its scale name), those built from diffusers parts too: q/k/v concatenated and
// norm_out's halves swapped as blocks, which gives the BFL file's blocks exactly. The rest is float32 as stored.
BOOST_FIXTURE_TEST_CASE(gguf_files_of_both_layouts_keep_q8_0_blocks, Scratch) {
  const auto config = golden_config();
  const fs::path bfl_file = dir / "bfl.gguf", diffusers_file = dir / "diffusers.gguf";
  genplug::test::write_gguf_of(*st::File::open(golden_flux("flux_tiny_bfl.safetensors")), bfl_file);
  genplug::test::write_gguf_of(*st::File::open(golden_flux("flux_tiny_diffusers.safetensors")), diffusers_file);
  BOOST_TEST(genplug::gguf::is_gguf_file(bfl_file));
  BOOST_TEST(!genplug::gguf::is_gguf_file(golden_flux("flux_tiny_bfl.safetensors")));
  const auto a = gf::load_flux_transformer(bfl_file, config, torch::kFloat32, torch::kCPU);
  const auto b = gf::load_flux_transformer(diffusers_file, config, torch::kFloat32, torch::kCPU);
  BOOST_TEST((a.keys.layout == gf::TransformerLayout::bfl));
  BOOST_TEST((b.keys.layout == gf::TransformerLayout::diffusers));
  BOOST_TEST(gf::checkpoint_shapes(bfl_file) == gf::shapes_of(st::Checkpoint(golden_flux("flux_tiny_bfl.safetensors"))));
  std::size_t q8 = 0;
  for (const auto& [name, shape] : gf::expected_flux_shapes(config)) {
    BOOST_TEST_CONTEXT(name) {
      const bool blocks = shape.size() == 2 && shape[1] % gf::kQ8BlockValues == 0;
      const auto scale = a.tensors.find(gf::q8_0_scale_name(name));
      BOOST_TEST((scale != a.tensors.end()) == blocks);
      BOOST_TEST((a.tensors.at(name).scalar_type() == (blocks ? torch::kInt8 : torch::kFloat32)));
      BOOST_TEST(torch::equal(a.tensors.at(name), b.tensors.at(name)));
      if (blocks) {
        ++q8;
        BOOST_TEST((scale->second.scalar_type() == torch::kFloat16));
        BOOST_TEST(torch::equal(scale->second, b.tensors.at(gf::q8_0_scale_name(name))));
      }
    }
  }
  BOOST_TEST(a.tensors.size() == b.tensors.size());
  BOOST_TEST_MESSAGE(q8 << " Q8_0 matrices");
}

// GGUF files of Q4_0 ... Q6_K matrices (the types FLUX files are distributed in), gguf_of_block_types.hpp, in
// both key layouts. On the CPU a matrix whose parts share one type keeps its blocks (ggml_blocks_layout.hpp):
// decoded, it equals the file's values exactly (the F32 file of them, loaded). A merge of parts of different
// types (the diffusers file's q/k/v) is re-blocked as Q8_0: equal to the Q8_0 file of the parts' re-blocking.
// Every other tensor equals the F32 file's.
BOOST_FIXTURE_TEST_CASE(gguf_files_of_other_block_types_keep_their_blocks, Scratch) {
  const auto config = golden_config();
  for (const char* layout : {"flux_tiny_bfl.safetensors", "flux_tiny_diffusers.safetensors"}) {
    BOOST_TEST_CONTEXT(layout) {
      const genplug::test::BlockTypeFiles files{dir / "quantised.gguf", dir / "reblocked.gguf", dir / "decoded.gguf"};
      const std::set<std::string> used =
          genplug::test::write_block_type_files(*st::File::open(golden_flux(layout)), files);
      BOOST_TEST_REQUIRE(!used.empty());  // time_in's rows are 256 timestep features in every FLUX
      double told = -1;  // BeforeLoad: every tensor is copied out of a GGUF file, blocks kept or re-blocked
      const auto a = gf::load_flux_transformer(files.quantised, config, torch::kFloat32, torch::kCPU,
                                               [&](const gf::LoadBytes& b) { told = b.copied; });
      BOOST_TEST(told == copied_bytes(a, {}));
      const auto q8 = gf::load_flux_transformer(files.reblocked, config, torch::kFloat32, torch::kCPU);
      const auto f32 = gf::load_flux_transformer(files.decoded, config, torch::kFloat32, torch::kCPU);
      std::size_t kept = 0, reblocked = 0;
      std::set<std::string> kept_types;
      for (const auto& [name, values] : f32.tensors) {
        BOOST_TEST_CONTEXT(name) {
          if (const auto blocks = gf::find_ggml_blocks(a.tensors, name)) {
            ++kept;
            kept_types.insert(genplug::gguf::type_name(uint32_t(blocks->type)));
            BOOST_TEST(torch::equal(gf::dequantize_ggml_blocks(*blocks), values));
          } else if (a.tensors.count(gf::q8_0_scale_name(name))) {
            ++reblocked;
            BOOST_TEST(torch::equal(a.tensors.at(name), q8.tensors.at(name)));
            BOOST_TEST(torch::equal(a.tensors.at(gf::q8_0_scale_name(name)), q8.tensors.at(gf::q8_0_scale_name(name))));
          } else {
            BOOST_TEST(torch::equal(a.tensors.at(name), values));
          }
        }
      }
      BOOST_TEST_MESSAGE(layout << ": " << kept << " matrices kept in their blocks, " << reblocked
                                << " merges of mixed types re-blocked as Q8_0");
      BOOST_TEST(kept > 0u);
      // The BFL file has no merges of several tensors: every type written is kept. The diffusers file's q, k and
      // v (one shape, consecutive in the writer's turn of types) differ in type wherever their rows are whole
      // blocks of 32, so each such merge is re-blocked.
      const bool diffusers = std::string(layout).find("diffusers") != std::string::npos;
      if (!diffusers) BOOST_TEST((kept_types == used));
      BOOST_TEST(std::includes(used.begin(), used.end(), kept_types.begin(), kept_types.end()));
      BOOST_TEST((reblocked > 0u) == (diffusers && config.hidden_size % 32 == 0));
    }
  }
}

BOOST_AUTO_TEST_CASE(comfy_single_file_with_prefix_and_extra_tensors) {
  Scratch s;
  const fs::path path = s.dir / "flux_comfy.safetensors";
  // An fp8 file's per-tensor scale, of a module the set has.
  const std::string scale = genplug::test::flux_first_attention_module(golden_config().depth) + ".weight_scale";
  rewrite(golden_flux("flux_tiny_bfl.safetensors"), path, [](const std::string& n) { return "model.diffusion_model." + n; },
          {st::TensorData::from_floats("first_stage_model.decoder.conv_in.bias", {2}, {1, 2}),
           st::TensorData::from_floats("model.diffusion_model." + scale, {}, {1})});
  const auto w = gf::load_flux_transformer(st::Checkpoint(path), golden_config(), torch::kFloat32, torch::kCPU);
  BOOST_TEST(w.keys.prefix == "model.diffusion_model.");
  BOOST_TEST(w.ignored == std::vector<std::string>{scale}, boost::test_tools::per_element());
  const auto reference = gf::load_tensors(st::Checkpoint(golden_flux("flux_tiny_bfl.safetensors")), torch::kFloat32, torch::kCPU);
  BOOST_REQUIRE_EQUAL(w.tensors.size(), reference.size());
  for (const auto& [name, t] : reference) BOOST_TEST(torch::equal(w.tensors.at(name), t));
  // load_tensors with the prefix gives the transformer's tensors only, stripped.
  const auto stripped = gf::load_tensors(st::Checkpoint(path), torch::kFloat32, torch::kCPU, "model.diffusion_model.");
  BOOST_TEST(stripped.size() == reference.size() + 1);
  BOOST_TEST(stripped.count("img_in.weight") == 1u);
}

BOOST_AUTO_TEST_CASE(missing_wrong_shape_mismatch_and_layout_errors_name_file_and_tensor) {
  Scratch s;
  const auto config = golden_config();
  // Missing tensor.
  const fs::path missing = s.dir / "missing.safetensors";
  const std::string dropped = config.depth > 0
                                  ? "double_blocks." + std::to_string(config.depth - 1) + ".txt_mlp.2.bias"
                                  : "single_blocks." + std::to_string(config.depth_single_blocks - 1) + ".linear2.bias";
  rewrite(golden_flux("flux_tiny_bfl.safetensors"), missing,
          [&](const std::string& n) { return n == dropped ? std::string() : n; });
  auto m = error_of([&] { gf::load_flux_transformer(st::Checkpoint(missing), config, torch::kFloat32, torch::kCPU); });
  BOOST_TEST_INFO(m);
  BOOST_TEST(contains(m, "missing.safetensors"));
  BOOST_TEST(contains(m, "'" + dropped + "'"));
  // A weight relabelled I32 (its bytes as they were): refused by its dtype, where its values had been converted
  // as integers and the render was noise with exit 0.
  const fs::path integers = s.dir / "i32.safetensors";
  const std::string qkv = genplug::test::flux_first_attention_module(config.depth) + ".weight";
  {
    const auto golden = st::File::open(golden_flux("flux_tiny_bfl.safetensors"));
    BOOST_REQUIRE(golden->at(qkv).dtype == st::DType::F32);
    st::TensorData relabelled = st::TensorData::borrow(golden->at(qkv));
    relabelled.dtype = st::DType::I32;
    rewrite(golden_flux("flux_tiny_bfl.safetensors"), integers,
            [&](const std::string& n) { return n == qkv ? std::string() : n; }, {relabelled});
  }
  m = error_of([&] { gf::load_flux_transformer(st::Checkpoint(integers), config, torch::kFloat32, torch::kCPU); });
  BOOST_TEST(contains(m, "i32.safetensors: tensor '" + qkv + "' has dtype I32, expected a floating-point type"), m);
  // Wrong shape (a diffusers part with a bad row count: caught when merging into the last block's BFL tensor, of
  // the single stack where the set has one; with no double blocks and one single block, by the MLP width read from
  // that block, named).
  const fs::path bad = s.dir / "bad_shape.safetensors";
  const bool singles = config.depth_single_blocks > 0;
  const std::string last = std::to_string((singles ? config.depth_single_blocks : config.depth) - 1);
  const std::string part = singles ? "single_transformer_blocks." + last + ".proj_mlp.weight"
                                   : "transformer_blocks." + last + ".attn.to_q.weight";
  const std::string merged = singles ? "single_blocks." + last + ".linear1.weight"
                                     : "double_blocks." + last + ".img_attn.qkv.weight";
  {
    const auto file = st::File::open(golden_flux("flux_tiny_diffusers.safetensors"));
    std::vector<st::TensorData> out;
    for (const auto& info : file->tensors()) {
      st::TensorData t;
      t.name = info.name;
      t.dtype = info.dtype;
      t.shape = info.shape;
      t.bytes.assign(info.data, info.data + info.nbytes);
      if (info.name == part) {
        t.shape[0] -= 1;
        t.bytes.resize(t.bytes.size() - 4 * static_cast<size_t>(t.shape[1]));
      }
      out.push_back(std::move(t));
    }
    st::write_file(bad, out);
  }
  m = error_of([&] { gf::load_flux_transformer(st::Checkpoint(bad), config, torch::kFloat32, torch::kCPU); });
  BOOST_TEST_INFO(m);
  BOOST_TEST(contains(m, "bad_shape.safetensors"));
  BOOST_TEST(contains(m, "'" + merged + "'"), m);
  // Explicit config that disagrees with the tensors.
  auto wrong = config;
  wrong.num_heads *= 2;
  m = error_of([&] {
    gf::load_flux_transformer(st::Checkpoint(golden_flux("flux_tiny_bfl.safetensors")), wrong, torch::kFloat32, torch::kCPU);
  });
  BOOST_TEST(contains(m, "'num_heads'"));
  const std::string norm = config.depth > 0 ? "double_blocks.0.img_attn" : "single_blocks.0";
  BOOST_TEST(contains(m, "hidden size over tensor '" + norm + ".norm.query_norm.scale'"), m);  // whence its value
  // A VAE given as the transformer.
  m = error_of([&] {
    gf::load_flux_transformer(st::Checkpoint(genplug::test::golden("vae/vae_tiny_bfl.safetensors")), config,
                              torch::kFloat32, torch::kCPU);
  });
  BOOST_TEST(contains(m, "vae_tiny_bfl.safetensors"));
  BOOST_TEST(contains(m, "not a FLUX transformer"));
}

BOOST_AUTO_TEST_CASE(sharded_diffusers_checkpoint_loads_like_the_single_file) {
  Scratch s;
  const auto file = st::File::open(golden_flux("flux_tiny_diffusers.safetensors"));
  std::vector<st::TensorData> shards[3];
  nlohmann::json weight_map = nlohmann::json::object();
  size_t i = 0;
  for (const auto& info : file->tensors()) {
    st::TensorData t = st::TensorData::borrow(info);
    const size_t which = i++ % 3;  // q, k and v of one block land in different shards
    shards[which].push_back(t);
    weight_map[info.name] = "diffusion_pytorch_model-0000" + std::to_string(which + 1) + "-of-00003.safetensors";
  }
  for (size_t k = 0; k < 3; ++k)
    st::write_file(s.dir / ("diffusion_pytorch_model-0000" + std::to_string(k + 1) + "-of-00003.safetensors"), shards[k]);
  std::ofstream(s.dir / "diffusion_pytorch_model.safetensors.index.json") << nlohmann::json{{"weight_map", weight_map}}.dump();
  const st::Checkpoint sharded(s.dir);
  BOOST_TEST(sharded.files().size() == 3u);
  const auto a = gf::load_flux_transformer(sharded, golden_config(), torch::kFloat32, torch::kCPU);
  const auto b = gf::load_flux_transformer(st::Checkpoint(golden_flux("flux_tiny_bfl.safetensors")), golden_config(),
                                           torch::kFloat32, torch::kCPU);
  BOOST_REQUIRE_EQUAL(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : b.tensors) BOOST_TEST(torch::equal(a.tensors.at(name), t), name);
  // Without the index the folder's *.safetensors are the shards; dangling links beside them are no files (the one
  // listed last had failed the folder as one that "cannot be listed").
  fs::create_directories(s.dir / "no_index");
  for (size_t k = 0; k < 3; ++k) {
    const std::string name = "diffusion_pytorch_model-0000" + std::to_string(k + 1) + "-of-00003.safetensors";
    fs::copy_file(s.dir / name, s.dir / "no_index" / name);
  }
  for (int k = 0; k < 20; ++k) fs::create_symlink(s.dir / "nowhere", s.dir / "no_index" / ("z" + std::to_string(k)));
  const st::Checkpoint listed(s.dir / "no_index");
  BOOST_TEST(listed.files().size() == 3u);
  const auto c = gf::load_flux_transformer(listed, golden_config(), torch::kFloat32, torch::kCPU);
  for (const auto& [name, t] : b.tensors) BOOST_TEST(torch::equal(c.tensors.at(name), t), name);
  // An entry named as a shard that is no file (a link to a blob never downloaded, a FIFO) fails the folder naming
  // it: it had been skipped, the shard dropped without a word.
  const fs::path missing = s.dir / "no_index" / "diffusion_pytorch_model-00004-of-00003.safetensors";
  fs::create_symlink(s.dir / "blobs" / "never-downloaded", missing);
  const std::string dangling = error_of([&] { st::Checkpoint(s.dir / "no_index"); });
  BOOST_TEST(contains(dangling, missing.string() + ": is a dangling symbolic link"), dangling);
  fs::remove(missing);
  BOOST_REQUIRE(::mkfifo(missing.c_str(), 0600) == 0);
  const std::string fifo = error_of([&] { st::Checkpoint(s.dir / "no_index"); });
  BOOST_TEST(contains(fifo, missing.string() + ": not a regular file"), fifo);
}

BOOST_AUTO_TEST_CASE(fp8_weights_with_scales_are_rescaled) {
  Scratch s;
  // The golden BFL checkpoint with two weights replaced by F8_E4M3 codes plus a scale:
  // img_in.weight -> all 0x38 (1.0) with scalar weight_scale 0.25; txt_in.weight -> 0x40 (2.0) with a per-row
  // scale_weight [H] = row index.
  const auto golden = st::File::open(golden_flux("flux_tiny_bfl.safetensors"));
  const auto& img_in = golden->at("img_in.weight");
  const auto& txt_in = golden->at("txt_in.weight");
  std::vector<st::TensorData> extra;
  auto f8 = [](const st::TensorInfo& like, uint8_t code) {
    st::TensorData t;
    t.name = like.name;
    t.dtype = st::DType::F8_E4M3;
    t.shape = like.shape;
    t.bytes.assign(static_cast<size_t>(like.numel()), code);
    return t;
  };
  extra.push_back(f8(img_in, 0x38));
  extra.push_back(st::TensorData::from_floats("img_in.weight_scale", {}, {0.25f}));
  extra.push_back(f8(txt_in, 0x40));
  std::vector<float> rows(static_cast<size_t>(txt_in.shape[0]));
  for (size_t r = 0; r < rows.size(); ++r) rows[r] = static_cast<float>(r);
  extra.push_back(st::TensorData::from_floats("txt_in.scale_weight", {txt_in.shape[0]}, rows));
  const fs::path path = s.dir / "fp8.safetensors";
  rewrite(golden_flux("flux_tiny_bfl.safetensors"), path,
          [](const std::string& n) { return n == "img_in.weight" || n == "txt_in.weight" ? std::string() : n; }, extra);
  gf::LoadBytes told;
  const auto w = gf::load_flux_transformer(st::Checkpoint(path), golden_config(), torch::kFloat32, torch::kCPU,
                                           [&](const gf::LoadBytes& b) { told = b; });
  BOOST_TEST(w.ignored.empty());
  // Told: the two decoded weights kept (float32), and at the peak one of them decoded twice (a vector, its clone) and
  // multiplied by its scale: 12 bytes a value.
  BOOST_TEST(told.copied == double(img_in.numel() + txt_in.numel()) * 4);
  BOOST_TEST(told.temporary == double(std::max(img_in.numel(), txt_in.numel())) * 12);
  BOOST_TEST(torch::equal(w.tensors.at("img_in.weight"), torch::full({img_in.shape[0], img_in.shape[1]}, 0.25f)));
  const auto expected_txt = (2.0f * torch::tensor(rows)).reshape({-1, 1}).expand({txt_in.shape[0], txt_in.shape[1]});
  BOOST_TEST(torch::equal(w.tensors.at("txt_in.weight"), expected_txt));
  // A scale of the wrong size is named.
  extra[1] = st::TensorData::from_floats("img_in.weight_scale", {3}, {1, 2, 3});
  rewrite(golden_flux("flux_tiny_bfl.safetensors"), path,
          [](const std::string& n) { return n == "img_in.weight" || n == "txt_in.weight" ? std::string() : n; }, extra);
  const auto m = error_of([&] { gf::load_flux_transformer(st::Checkpoint(path), golden_config(), torch::kFloat32, torch::kCPU); });
  BOOST_TEST(contains(m, "'img_in.weight_scale'"));

  // Scales that cannot be meant are named, not applied: a scale under both names with other values (which one?), a
  // value that is not finite, a per-tensor 0 that zeroes the layer. Both names with one value (of any shape or
  // dtype) load as one.
  auto load_with = [&](std::vector<st::TensorData> scales) {
    std::vector<st::TensorData> tensors = {extra[0], extra[2]};  // txt_in's scale unless `scales` has one
    tensors.insert(tensors.end(), scales.begin(), scales.end());
    auto names_txt_scale = [](const st::TensorData& t) { return t.name == "txt_in.scale_weight"; };
    if (std::none_of(scales.begin(), scales.end(), names_txt_scale)) tensors.push_back(extra[3]);
    rewrite(golden_flux("flux_tiny_bfl.safetensors"), path,
            [](const std::string& n) { return n == "img_in.weight" || n == "txt_in.weight" ? std::string() : n; },
            tensors);
    return gf::load_flux_transformer(st::Checkpoint(path), golden_config(), torch::kFloat32, torch::kCPU);
  };
  const auto both = load_with({st::TensorData::from_floats("img_in.weight_scale", {}, {0.25f}),
                               st::TensorData::from_floats("img_in.scale_weight", {1}, {0.25f})});  // [] and [1]
  BOOST_TEST(both.ignored.empty());
  BOOST_TEST(torch::equal(both.tensors.at("img_in.weight"), torch::full({img_in.shape[0], img_in.shape[1]}, 0.25f)));
  const std::vector<std::pair<std::vector<st::TensorData>, std::string>> refused = {
      {{st::TensorData::from_floats("img_in.weight_scale", {}, {0.25f}),
        st::TensorData::from_floats("img_in.scale_weight", {}, {250.f})},
       "'img_in.weight' has two different scales, 'img_in.weight_scale' and 'img_in.scale_weight'"},
      {{st::TensorData::from_floats("img_in.weight_scale", {}, {0.f})}, "'img_in.weight_scale' is 0: it would zero"},
      {{st::TensorData::from_floats("img_in.weight_scale", {}, {std::numeric_limits<float>::quiet_NaN()})},
       "'img_in.weight_scale' holds a value that is not finite"},
      {{st::TensorData::from_floats("img_in.weight_scale", {}, {0.25f}),
        st::TensorData::from_floats("txt_in.scale_weight", {txt_in.shape[0]},
                                    std::vector<float>(rows.size(), std::numeric_limits<float>::infinity()))},
       "'txt_in.scale_weight' holds a value that is not finite"}};
  for (const auto& [scales, message] : refused) {
    const auto e = error_of([&] { load_with(scales); });
    BOOST_TEST(contains(e, message), e);
  }
}
