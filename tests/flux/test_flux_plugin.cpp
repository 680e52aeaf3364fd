// org.genplug.flux through its C ABI (build/plugins/libgenplug_flux.so): the golden forward for both key
// layouts and the DyPE spectrum, describe(), noise/condition/predict/decode/encode on random tiny weights,
// and the errors a host sees.
#define BOOST_TEST_MODULE flux_plugin
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <set>

#include <unistd.h>

#include <ATen/CPUGeneratorImpl.h>

#include <genplug/gguf.hpp>
#include <genplug/internal/cpu_memory.hpp>
#include <genplug/safetensors.hpp>

#include "address_space_limit.hpp"
#include "flux_golden_case.hpp"
#include "flux_plugin_fixture.hpp"
#include "gguf_of_block_types.hpp"
#include "gguf_of_safetensors.hpp"
#include "isa_emulation.hpp"
#include "rounding_bound.hpp"
#include "temp_dir.hpp"

using namespace genplug;
using nlohmann::json;
namespace st = genplug::safetensors;
namespace gguf = genplug::gguf;

namespace {

const test::FluxPluginLibrary& library() {
  static test::FluxPluginLibrary lib;
  return lib;
}

const std::string kTiny = R"({"transformer": "random", "preset": "tiny", "seed": 3})";

genplug_status create_status(const std::string& config, std::string* message = nullptr) {
  try {
    library().create(config);
    return GENPLUG_OK;
  } catch (const PluginError& e) {
    if (message) *message = e.what();
    return e.code();
  }
}

// Conditioning holder for predict(): names + borrowed DLTensors.
struct Conditioning {
  std::vector<std::pair<std::string, ManagedTensor>> items;
  std::vector<const char*> names;
  std::vector<const DLTensor*> tensors;
  genplug_tensor_list_t c_list{};
  explicit Conditioning(std::vector<std::pair<std::string, ManagedTensor>> list) : items(std::move(list)) {
    for (auto& [n, t] : items) names.push_back(n.c_str()), tensors.push_back(&t.tensor());
    c_list = {sizeof(genplug_tensor_list_t), uint32_t(names.size()), names.data(), tensors.data()};
  }
  const genplug_tensor_list_t* list() const { return &c_list; }
};

genplug_predict_args_t predict_args(const DLTensor& latent, uint32_t h, uint32_t w, double sigma, double guidance,
                                    const Conditioning& c, const genplug_spectrum_t* spectrum) {
  genplug_predict_args_t a{};
  a.struct_size = sizeof(a);
  a.latent = &latent;
  a.height = h;
  a.width = w;
  a.sigma = sigma;
  a.guidance = guidance;
  a.conditioning = c.list();
  a.spectrum = spectrum;
  return a;
}

// The golden case through the plugin: weights file, precomputed conditioning from the golden txt / y.
struct GoldenPlugin {
  json info = test::read_json(test::golden("flux/flux_tiny_info.json"));
  std::shared_ptr<const st::File> io = st::File::open(test::golden("flux/flux_tiny_io.safetensors"));
  uint32_t height = uint32_t(info.at("grid_tokens_hw")[0].get<int>() * 16);
  uint32_t width = uint32_t(info.at("grid_tokens_hw")[1].get<int>() * 16);
  std::filesystem::path conditioning =
      std::filesystem::temp_directory_path() / ("flux_plugin_conditioning_" + std::to_string(::getpid()) + ".safetensors");

  GoldenPlugin() {
    auto copy = [&](const char* from, const char* to) {
      const st::TensorInfo& t = io->at(from);
      return st::TensorData::from_floats(to, t.shape, st::to_float32(t));
    };
    st::write_file(conditioning, {copy("txt", "txt"), copy("y", "vec")});
  }
  ~GoldenPlugin() { std::filesystem::remove(conditioning); }

  // `extra`: more configuration fields.
  ModelProxy create(const std::string& weights_file, const json& extra = json::object()) const {
    json config = {{"transformer", test::golden("flux/" + weights_file).string()},
                   {"vae", "none"},
                   // Rotary axes are not visible in weights; the golden config names them.
                   {"config", {{"axes_dim", info.at("meta").at("params").at("axes_dim")},
                               {"theta", info.at("meta").at("params").at("theta")}}},
                   {"conditioning", conditioning.string()}};
    config.update(extra);
    return library().create(config.dump());
  }

  // predict() on the golden input with the given spectrum (NULL: plain).
  std::vector<float> predict(const ModelProxy& model, const genplug_spectrum_t* spectrum) const {
    CallContext ctx;
    Conditioning c(model.condition("ignored: conditioning comes from the file", "", ctx));
    const st::TensorInfo& img = io->at("img");
    test::HostTensor latent(st::to_float32(img), img.shape);
    // A model without guidance embedding has no golden guidance value; predict() then ignores the argument.
    const st::TensorInfo* guidance = io->find("guidance");
    const double t = st::to_float32(io->at("timesteps")).at(0), g = guidance ? st::to_float32(*guidance).at(0) : 0.0;
    auto a = predict_args(latent.dl, height, width, t, g, c, spectrum);
    return test::values(model.predict(a, ctx).tensor());
  }
};

// The plugin's float32 output for the golden input against the reference's `reference` output, within the rounding
// bound (rounding_bound.hpp) measured against the transformer library's float64 forward (the plugin's own code).
struct ExactGolden : test::FluxGoldenCase {
  flux::FluxTransformer model = exact_model();
  test::RoundingBound bound(const std::vector<float>& ours, const flux::RotarySpectrum& spectrum,
                            const std::string& reference) const {
    return golden_forward_bound(model, torch::tensor(ours, torch::kFloat32), spectrum, reference);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(golden)

BOOST_AUTO_TEST_CASE(bfl_and_diffusers_files_reproduce_the_bfl_forward) {
  GoldenPlugin g;
  const ExactGolden exact;
  for (const char* file : {"flux_tiny_bfl.safetensors", "flux_tiny_diffusers.safetensors"}) {
    ModelProxy model = g.create(file);
    const test::RoundingBound b = exact.bound(g.predict(model, nullptr), exact.plain(), "out");
    BOOST_TEST_MESSAGE(file << ": plugin predict vs BFL out: " << b);
    BOOST_TEST(b.holds(), file << ": " << b);
  }
}

BOOST_AUTO_TEST_CASE(dype_spectrum_reproduces_official_dype) {
  GoldenPlugin g;
  std::vector<double> freqs, amplitude;
  for (const auto& axis : g.info.at("dype").at("freqs"))
    for (double f : axis) freqs.push_back(f);
  for (double m : g.info.at("dype").at("mscale")) amplitude.push_back(m);
  genplug_spectrum_t s{sizeof(genplug_spectrum_t), freqs.data(), uint32_t(freqs.size()), amplitude.data(),
                       uint32_t(amplitude.size()), 0};
  const ExactGolden exact;
  for (const char* file : {"flux_tiny_bfl.safetensors", "flux_tiny_diffusers.safetensors"}) {
    ModelProxy model = g.create(file);
    const test::RoundingBound b = exact.bound(g.predict(model, &s), exact.dype(), "dype.out");
    BOOST_TEST_MESSAGE(file << ": plugin predict with DyPE spectrum vs dype.out: " << b);
    BOOST_TEST(b.holds(), file << ": " << b);
  }
}

// A checkpoint whose copies (another dtype than the file's) or int8 weights are more than the machine holds is
// refused before it loads, naming the file and dtype: under Linux's overcommit they would have been "allocated" and
// the OOM killer would have ended the process. The file: the golden BFL tensors declared bfloat16, vector_in widened
// to 2^38 values, written sparse (half a TiB that takes no disk).
BOOST_AUTO_TEST_CASE(a_checkpoint_whose_copies_exceed_the_machine_is_a_config_error) {
  GoldenPlugin g;
  const test::TempDir d("flux-copies");
  const auto golden = st::File::open(test::golden("flux/flux_tiny_bfl.safetensors"));
  auto sparse_file = [&](const std::string& name, int64_t vector_in_values) {
    const std::filesystem::path file = d.path / name;
    json header = json::object();
    int64_t offset = 0;
    for (const st::TensorInfo& t : golden->tensors()) {
      std::vector<int64_t> shape = t.shape;
      if (t.name == "vector_in.in_layer.weight") shape[1] = vector_in_values / shape[0];
      const int64_t bytes = 2 * std::accumulate(shape.begin(), shape.end(), int64_t(1), std::multiplies<>());
      header[t.name] = {{"dtype", "BF16"}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
      offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    {
      std::ofstream out(file, std::ios::binary);
      const uint64_t length = text.size();  // little-endian on x86-64
      out.write(reinterpret_cast<const char*>(&length), 8);
      out << text;
    }
    std::filesystem::resize_file(file, 8 + text.size() + uint64_t(offset));
    return file;
  };
  auto refusal = [&](const std::filesystem::path& file, const json& extra) {
    json config = {{"transformer", file.string()}};
    config.update(extra);
    try {
      g.create(file.filename().string(), config);
    } catch (const PluginError& e) {
      BOOST_TEST(e.code() == GENPLUG_E_CONFIG);
      return std::string(e.what());
    }
    return std::string("let through");
  };
  const std::optional<uint64_t> ceiling = internal::cpu_memory_ceiling();
  if (ceiling && *ceiling >= uint64_t(1) << 40) {  // this machine could hold them: nothing to refuse
    BOOST_TEST_MESSAGE("skipped: this process could add " << *ceiling << " bytes");
    return;
  }
  const auto wide = sparse_file("wide.safetensors", int64_t(1) << 38);
  std::string message = refusal(wide, {{"dtype", "f32"}});
  BOOST_TEST(message.find("transformer " + wide.string() + ": loading it as f32 copies 1024.0 GiB out of the file") !=
                 std::string::npos, message);
  BOOST_TEST(message.find("more than this process can ever add") != std::string::npos, message);
  // Mapped as it is stored, but quantized: the int8 weights (a byte a value, 256 GiB) and vector_in twice in
  // float32 while it is quantized (2 TiB) are what cannot be held.
  message = refusal(wide, {{"dtype", "bf16"}, {"quantize", "int8"}});
  BOOST_TEST(message.find("transformer " + wide.string() + ": loading it as bf16 copies 0 bytes out of the file and "
                          "quantizes its weights to int8 in 2304.0 GiB") != std::string::npos, message);
  BOOST_TEST(message.find("or quantize \"none\"") != std::string::npos, message);
}

// Conditioning that holds NaN or infinity fails condition() naming where it came from: it would make every image
// NaN, found only at the first evaluation, and `genplug encode` had written it with exit 0 (the encoders' own
// check, "the T5 encoder's txt", is the same function).
BOOST_AUTO_TEST_CASE(non_finite_conditioning_fails_condition) {
  GoldenPlugin g;
  const st::TensorInfo& txt = g.io->at("txt");
  std::vector<float> values = st::to_float32(txt);
  values[1] = std::numeric_limits<float>::infinity();
  const std::filesystem::path bad = g.conditioning.string() + ".inf.safetensors";
  st::write_file(bad, {st::TensorData::from_floats("txt", txt.shape, values),
                       st::TensorData::from_floats("vec", g.io->at("y").shape, st::to_float32(g.io->at("y")))});
  ModelProxy model = g.create("flux_tiny_bfl.safetensors", {{"conditioning", bad.string()}});
  CallContext ctx;
  try {
    model.condition("x", "", ctx);
    BOOST_ERROR("conditioning with an infinity was accepted");
  } catch (const PluginError& e) {
    BOOST_TEST(e.code() == GENPLUG_E_FAILED, e.what());
    BOOST_TEST(std::string(e.what()).find("config.conditioning's txt holds 1 non-finite values of " +
                                          std::to_string(values.size())) != std::string::npos,
               e.what());
  }
  std::filesystem::remove(bad);
}

BOOST_AUTO_TEST_CASE(a_short_spectrum_buffer_is_an_invalid_argument) {
  GoldenPlugin g;
  ModelProxy model = g.create("flux_tiny_bfl.safetensors");
  std::vector<double> freqs(2, 1.0), amplitude(3, 1.0);
  genplug_spectrum_t s{sizeof(genplug_spectrum_t), freqs.data(), 2, amplitude.data(), 3, 0};
  try {
    g.predict(model, &s);
    BOOST_FAIL("a 2-value spectrum was accepted");
  } catch (const PluginError& e) {
    BOOST_TEST(e.code() == GENPLUG_E_INVALID_ARGUMENT);
  }
}

// A spectrum of any size holding a NaN or an infinity is refused: it would make every velocity non-finite. The
// buffers are larger than any set's rotary layout (the model reads the first values it needs).
BOOST_AUTO_TEST_CASE(a_non_finite_spectrum_is_an_invalid_argument) {
  GoldenPlugin g;
  ModelProxy model = g.create("flux_tiny_bfl.safetensors");
  for (const bool in_freqs : {true, false}) {
    std::vector<double> freqs(4096, 0.5), amplitude(64, 1.0);
    (in_freqs ? freqs : amplitude)[0] = in_freqs ? std::nan("") : HUGE_VAL;
    genplug_spectrum_t s{sizeof(genplug_spectrum_t), freqs.data(), 4096, amplitude.data(), 64, 0};
    try {
      g.predict(model, &s);
      BOOST_ERROR("a spectrum with a non-finite value was accepted");
    } catch (const PluginError& e) {
      BOOST_TEST(e.code() == GENPLUG_E_INVALID_ARGUMENT);
      BOOST_TEST(std::string(e.what()).find(in_freqs ? "spectrum freqs[0] is nan" : "spectrum amplitude[0] is inf") !=
                     std::string::npos,
                 e.what());
    }
  }
}

// True when this process maps `file` (/proc/self/maps).
bool mapped(const std::filesystem::path& file) {
  std::ifstream maps("/proc/self/maps");
  const std::string name = std::filesystem::canonical(file).string();
  for (std::string line; std::getline(maps, line);)
    if (line.size() >= name.size() && line.compare(line.size() - name.size(), name.size(), name) == 0) return true;
  return false;
}

// A rank-4 LoRA (kohya names) on the golden model's first attention projection: a double block's, or a single
// block's fused linear1 in a set without double blocks, found by name in the file.
void write_attention_lora(const std::filesystem::path& lora) {
  const auto bfl = st::File::open(test::golden("flux/flux_tiny_bfl.safetensors"));
  std::string module;
  for (const char* suffix : {"img_attn.qkv.weight", "linear1.weight"})
    for (const st::TensorInfo& t : bfl->tensors())
      if (module.empty() && t.name.size() > strlen(suffix) && t.name.compare(t.name.size() - strlen(suffix), strlen(suffix), suffix) == 0)
        module = t.name.substr(0, t.name.size() - strlen(".weight"));
  BOOST_REQUIRE(!module.empty());
  const auto& shape = bfl->at(module + ".weight").shape;
  const int64_t rank = 4;
  std::vector<float> down(size_t(rank * shape[1])), up(size_t(shape[0] * rank));
  for (size_t i = 0; i < down.size(); ++i) down[i] = float(std::sin(0.7 * double(i))) * 0.3f;
  for (size_t i = 0; i < up.size(); ++i) up[i] = float(std::cos(1.3 * double(i))) * 0.3f;
  st::write_file(lora, {st::TensorData::from_floats("diffusion_model." + module + ".lora_A.weight", {rank, shape[1]}, down),
                        st::TensorData::from_floats("diffusion_model." + module + ".lora_B.weight", {shape[0], rank}, up)});
}

// "quantize": "int8" (8-bit linear weights, one scale per output row). The model keeps no unquantised copy, so a
// LoRA set through the adapters extension is merged into the source file loaded again: the velocity is then
// exactly that of a model created with the LoRA, and removing the LoRA gives back the plain 8-bit velocity
// exactly. Against f32 the velocity is off by the weights' rounding only: each weight by at most 1/254 of its
// row's largest; the bound is test_flux_weight_dtype's, the forward of a deeper model.
BOOST_AUTO_TEST_CASE(int8_weights_take_loras_from_their_source) {
  GoldenPlugin g;
  const std::string file = "flux_tiny_bfl.safetensors";
  const ModelProxy quantised = g.create(file, {{"quantize", "int8"}});
  BOOST_TEST(json::parse(quantised.describe()).at("quantize") == "int8");
  BOOST_TEST(json::parse(quantised.describe()).at("linear_weights") == "int8");
  // Nothing it keeps aliases the loaded file (f32, as the model computes), so the file is no longer mapped.
  BOOST_TEST(!mapped(test::golden("flux/" + file)));
  const std::filesystem::path lora = std::filesystem::temp_directory_path() /
                                     ("flux_plugin_lora_" + std::to_string(::getpid()) + ".safetensors");
  write_attention_lora(lora);
  const json loras = json::array({{{"path", lora.string()}, {"scale", 1.0}}});
  const json int8 = {{"quantize", "int8"}};
  json int8_lora = int8, f32_lora = json::object();
  int8_lora["loras"] = f32_lora["loras"] = loras;

  const std::vector<float> plain = g.predict(quantised, nullptr), f32 = g.predict(g.create(file), nullptr);
  CallContext ctx;
  // The adapter check (what a host asks before any job renders) works from the weights' shapes, which the model
  // keeps under int8 too, and changes nothing: a LoRA that fits passes, a file that is absent is an I/O error, and
  // one with a module the model lacks (the same LoRA under another block index) a config error.
  BOOST_TEST(quantised.can_check_adapters());
  BOOST_CHECK_NO_THROW(quantised.check_adapters(loras.dump(), ctx));
  auto check_code = [&](const json& list) {
    try {
      quantised.check_adapters(list.dump(), ctx);
    } catch (const PluginError& e) {
      return e.code();
    }
    return GENPLUG_OK;
  };
  BOOST_TEST(check_code(json::array({{{"path", lora.string() + ".absent"}}})) == GENPLUG_E_IO);
  try {  // a key given twice, as in manifests (JSON keeps the last value only)
    quantised.check_adapters(R"([{"path": "a.safetensors", "path": "b.safetensors"}])", ctx);
    BOOST_ERROR("a LoRA entry with \"path\" twice was taken");
  } catch (const PluginError& e) {
    BOOST_TEST(e.code() == GENPLUG_E_CONFIG);
    BOOST_TEST(std::string(e.what()).find("loras: the key \"path\" appears twice") != std::string::npos, e.what());
  }
  const std::filesystem::path deeper = lora.string() + ".deeper.safetensors";
  {
    const st::Checkpoint source(lora);
    std::vector<st::TensorData> renamed;
    for (const st::TensorInfo& t : source.tensors()) {
      std::string name = t.name;
      for (const std::string block : {"double_blocks.0.", "single_blocks.0."})
        if (const size_t at = name.find(block); at != std::string::npos) name.replace(at, block.size(), block.substr(0, block.size() - 2) + "999.");
      renamed.push_back(st::TensorData::from_floats(name, t.shape, st::to_float32(t)));
    }
    st::write_file(deeper, renamed);
  }
  BOOST_TEST(check_code(json::array({{{"path", deeper.string()}}})) == GENPLUG_E_CONFIG);
  std::filesystem::remove(deeper);
  BOOST_TEST(g.predict(quantised, nullptr) == plain, boost::test_tools::per_element());
  quantised.set_adapters(loras.dump(), ctx);
  const std::vector<float> swapped = g.predict(quantised, nullptr);
  const std::vector<float> created = g.predict(g.create(file, int8_lora), nullptr);
  const std::vector<float> f32_with_lora = g.predict(g.create(file, f32_lora), nullptr);
  quantised.set_adapters("[]", ctx);
  const std::vector<float> restored = g.predict(quantised, nullptr);
  {  // The source replaced under its path (a rename) after create: a merge would take other weights as its base.
    test::TempDir dir("flux-int8-replaced");
    const std::filesystem::path copy = dir.path / file;
    std::filesystem::copy_file(test::golden("flux/" + file), copy);
    const ModelProxy from_copy = g.create("", {{"transformer", copy.string()}, {"quantize", "int8"}});
    std::filesystem::copy_file(copy, dir.path / "new.safetensors");
    std::filesystem::rename(dir.path / "new.safetensors", copy);
    try {
      from_copy.set_adapters(loras.dump(), ctx);
      BOOST_ERROR("a LoRA was merged into a replaced checkpoint");
    } catch (const PluginError& e) {
      BOOST_TEST(e.code() == GENPLUG_E_CONFIG);
      BOOST_TEST(std::string(e.what()).find("config.transformer: '" + copy.string() + "' has changed since the model "
                                            "was created") != std::string::npos,
                 e.what());
    }
  }
  std::filesystem::remove(lora);

  const double err = test::relative_error(plain, f32), err_lora = test::relative_error(swapped, f32_with_lora);
  BOOST_TEST_MESSAGE("int8 vs f32 velocity, relative error: " << err << ", with the LoRA " << err_lora);
  BOOST_TEST(err > 0.0);  // the weights really are 8-bit
  BOOST_TEST(err < 3e-2);
  BOOST_TEST(err_lora < 3e-2);
  BOOST_TEST(test::differ_by_more_than(swapped, plain, 1e-3));  // the LoRA changes the velocity
  BOOST_TEST(swapped == created, boost::test_tools::per_element());
  BOOST_TEST(restored == plain, boost::test_tools::per_element());
}

// Weights that are not finite (a damaged checkpoint) make a velocity that is not: predict names the tensor and the
// file, which the host's count of non-finite velocity values could not.
BOOST_AUTO_TEST_CASE(a_non_finite_weight_is_named_by_predict) {
  GoldenPlugin g;
  const std::string file = "flux_tiny_bfl.safetensors";
  test::TempDir dir("flux-nan-weight");
  const std::filesystem::path damaged = dir.path / file;
  {
    const st::Checkpoint source(test::golden("flux/" + file));
    std::vector<st::TensorData> tensors;
    for (const st::TensorInfo& t : source.tensors()) {
      std::vector<float> values = st::to_float32(t);
      if (t.name == "img_in.weight") values.at(3) = std::numeric_limits<float>::quiet_NaN();
      tensors.push_back(st::TensorData::from_floats(t.name, t.shape, values));
    }
    st::write_file(damaged, tensors);
  }
  const ModelProxy model = g.create("", {{"transformer", damaged.string()}});
  try {
    g.predict(model, nullptr);
    BOOST_ERROR("a NaN weight gave a velocity");
  } catch (const PluginError& e) {
    BOOST_TEST(e.code() == GENPLUG_E_FAILED);
    BOOST_TEST(std::string(e.what()).find("predict: the velocity is not finite: the transformer's 'img_in.weight' "
                                          "holds 1 NaN or infinite values (config.transformer: " +
                                          damaged.string() + ")") != std::string::npos,
               e.what());
  }
}

// A golden weights file as GGUF (gguf_of_safetensors.hpp), and the values the GGUF file holds in F32
// safetensors when `values_path` is given: the model that file gives is the reference.
void write_golden_gguf(const std::string& golden_file, const std::filesystem::path& gguf_path,
                       const std::filesystem::path& values_path = {}, bool narrow_vectors = true) {
  test::write_gguf_of(*st::File::open(test::golden("flux/" + golden_file)), gguf_path, narrow_vectors);
  if (values_path.empty()) return;
  const auto written = gguf::File::open(gguf_path);
  std::vector<st::TensorData> values;
  for (const gguf::TensorInfo& t : written->tensors())
    values.push_back(st::TensorData::from_floats(t.name, t.shape, gguf::to_float32(t)));
  st::write_file(values_path, values);
}

// A model of GGUF blocks (created from `config`) takes write_attention_lora's LoRA through the adapters
// extension: its velocity then equals a model created with the LoRA, is within 3e-2 of the float32 reference
// model (a golden file and a config) with the LoRA (the merge is stored as Q8_0, within its rounding), differs from
// `plain`; removing the LoRA gives `plain` back exactly.
struct Reference {
  std::string golden_file;
  json config;
};
void check_lora_on_blocks(GoldenPlugin& g, const ModelProxy& model, const std::vector<float>& plain, json config,
                          Reference reference, const std::filesystem::path& dir) {
  const std::filesystem::path lora = dir / "lora.safetensors";
  write_attention_lora(lora);
  const json loras = json::array({{{"path", lora.string()}, {"scale", 1.0}}});
  config["loras"] = reference.config["loras"] = loras;
  CallContext ctx;
  model.set_adapters(loras.dump(), ctx);
  const std::vector<float> swapped = g.predict(model, nullptr);
  const std::vector<float> created = g.predict(g.create("", config), nullptr);
  const std::vector<float> reference_with_lora = g.predict(g.create(reference.golden_file, reference.config), nullptr);
  model.set_adapters("[]", ctx);
  const std::vector<float> restored = g.predict(model, nullptr);
  const double err_lora = test::relative_error(swapped, reference_with_lora);
  BOOST_TEST_MESSAGE("with the LoRA, vs the float32 reference with the LoRA: " << err_lora);
  BOOST_TEST(test::differ_by_more_than(swapped, plain, 1e-3));  // the LoRA changes the velocity
  BOOST_TEST(err_lora < 3e-2);
  BOOST_TEST(swapped == created, boost::test_tools::per_element());
  BOOST_TEST(restored == plain, boost::test_tools::per_element());
}

// A GGUF transformer with Q8_0 matrices. The model keeps the blocks (q and d) and widens q * d per layer, exactly
// the float32 values of the file: its velocity is that of the f32 model of those values up to float32 rounding
// (the products see the same operands; bound 1e-6). Against the original weights it is off by Q8_0's rounding
// (each weight by at most 1/254 of its block's largest, plus d's f16 rounding), within the int8 test's bound.
// Everything is copied out of the file: it is not mapped after creation. A LoRA through the adapters extension
// is merged in float32 and quantised to Q8_0 again: the velocity of a model created with it, close to f32 + LoRA;
// removing it gives the plain velocity back exactly.
BOOST_AUTO_TEST_CASE(gguf_q8_0_weights_stay_8_bit_and_take_loras) {
  GoldenPlugin g;
  test::TempDir dir("flux-gguf");
  const std::filesystem::path gguf_file = dir.path / "flux_tiny_q8_0.gguf", values = dir.path / "values.safetensors";
  write_golden_gguf("flux_tiny_bfl.safetensors", gguf_file, values);
  const json from_gguf = {{"transformer", gguf_file.string()}};
  const ModelProxy model = g.create("flux_tiny_bfl.safetensors", from_gguf);
  BOOST_TEST(!mapped(gguf_file));
  BOOST_TEST(json::parse(model.describe()).at("linear_weights") == "q8_0");
  BOOST_TEST(json::parse(model.describe()).at("quantize") == "none");  // the file's blocks, not the setting
  const std::vector<float> q8 = g.predict(model, nullptr);
  const std::vector<float> same_values = g.predict(g.create("", {{"transformer", values.string()}}), nullptr);
  const std::vector<float> f32 = g.predict(g.create("flux_tiny_bfl.safetensors"), nullptr);
  const double err_values = test::relative_error(q8, same_values), err = test::relative_error(q8, f32);
  BOOST_TEST_MESSAGE("GGUF Q8_0 velocity vs the f32 model of the same values: " << err_values << ", vs f32: " << err);
  BOOST_TEST(err_values < 1e-6);
  BOOST_TEST(err > 0.0);  // the weights really are 8-bit
  BOOST_TEST(err < 3e-2);

  check_lora_on_blocks(g, model, q8, from_gguf, {"flux_tiny_bfl.safetensors", json::object()}, dir.path);
}

// A GGUF transformer of every other block type (Q4_0 ... Q6_K, gguf_of_block_types.hpp: random blocks at the
// golden weights' scale). The model keeps the blocks and decodes them per layer to exactly the file's values: its
// velocity is that of the f32 model of those values up to float32 rounding (bound 1e-6, as for Q8_0). A LoRA
// through the adapters extension is merged in float32 and stored as Q8_0: close to the f32 values + LoRA (within
// Q8_0's rounding, bound as for Q8_0), equal to a model created with it; removing it gives the blocks back.
BOOST_AUTO_TEST_CASE(gguf_2_to_6_bit_weights_stay_in_their_blocks_and_take_loras) {
  GoldenPlugin g;
  test::TempDir dir("flux-gguf-blocks");
  const test::BlockTypeFiles files{dir.path / "quantised.gguf", dir.path / "reblocked.gguf", dir.path / "decoded.gguf"};
  const std::set<std::string> used =
      test::write_block_type_files(*st::File::open(test::golden("flux/flux_tiny_bfl.safetensors")), files);
  std::string types;  // describe()'s spelling: ggml's names in lower case, sorted, joined by '+'
  for (const std::string& t : used) types += (types.empty() ? "" : "+") + t;
  std::transform(types.begin(), types.end(), types.begin(), [](unsigned char ch) { return std::tolower(ch); });
  const json from_gguf = {{"transformer", files.quantised.string()}};
  const ModelProxy model = g.create("", from_gguf);
  BOOST_TEST(!mapped(files.quantised));
  BOOST_TEST_REQUIRE(!used.empty());
  BOOST_TEST(json::parse(model.describe()).at("linear_weights") == types);
  const std::vector<float> blocks = g.predict(model, nullptr);
  const std::vector<float> values = g.predict(g.create("", {{"transformer", files.decoded.string()}}), nullptr);
  const double err_values = test::relative_error(blocks, values);
  BOOST_TEST_MESSAGE("GGUF Q4_0 ... Q6_K velocity vs the f32 model of the same values: " << err_values);
  BOOST_TEST(err_values < 1e-6);

  check_lora_on_blocks(g, model, blocks, from_gguf, {"", {{"transformer", files.decoded.string()}}}, dir.path);
}

// GGUF files with diffusers names: q, k and v (and the single blocks' parts of linear1) are concatenated back as
// Q8_0 blocks, norm_out's halves swapped as blocks. Quantising works within rows, so this gives the BFL file's
// Q8_0 weights exactly: the same velocity.
BOOST_AUTO_TEST_CASE(gguf_diffusers_names_concatenate_q8_0_blocks) {
  GoldenPlugin g;
  test::TempDir dir("flux-gguf");
  write_golden_gguf("flux_tiny_bfl.safetensors", dir.path / "bfl.gguf", {}, false);
  write_golden_gguf("flux_tiny_diffusers.safetensors", dir.path / "diffusers.gguf", {}, false);
  const std::vector<float> bfl = g.predict(g.create("", {{"transformer", (dir.path / "bfl.gguf").string()}}), nullptr);
  const std::vector<float> diffusers =
      g.predict(g.create("", {{"transformer", (dir.path / "diffusers.gguf").string()}}), nullptr);
  const double err = test::relative_error(diffusers, bfl);
  BOOST_TEST_MESSAGE("GGUF Q8_0 diffusers vs BFL names, relative error " << err);
  BOOST_TEST(err < 1e-6);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(random_tiny)

BOOST_AUTO_TEST_CASE(describe_follows_model_h) {
  ModelProxy model = library().create(kTiny);
  json d = json::parse(model.describe());
  BOOST_TEST(d.at("latent_channels") == 16);
  BOOST_TEST(d.at("patch_size") == 2);
  BOOST_TEST(d.at("vae_downscale") == 8);
  BOOST_TEST(d.at("pixels_per_token") == 16);
  BOOST_TEST(d.at("rotary").at("axes_dim") == json({4, 6, 6}));
  BOOST_TEST(d.at("rotary").at("theta") == 10000.0);
  BOOST_TEST(d.at("rotary").at("base_extent") == json({1, 4, 4}));
  BOOST_TEST(d.at("conditioning") == json({"txt", "vec"}));
  BOOST_TEST(d.at("linear_weights") == "f32");
  for (const char* key : {"steps", "guidance", "width", "height"}) BOOST_TEST(d.at("defaults").contains(key), key);
  json schema = json::parse(library().factory().descriptor(&library().factory(), 0)->config_schema);
  BOOST_TEST(schema.at("additionalProperties") == false);
}

BOOST_AUTO_TEST_CASE(noise_is_packed_and_reproducible) {
  ModelProxy model = library().create(kTiny);
  CallContext ctx;
  ManagedTensor a = model.noise(7, 128, 96, ctx), b = model.noise(7, 128, 96, ctx), c = model.noise(8, 128, 96, ctx);
  BOOST_TEST(a.shape() == std::vector<int64_t>({1, 8 * 6, 64}));
  const auto va = test::values(a.tensor());
  BOOST_TEST(va == test::values(b.tensor()));
  BOOST_TEST(va != test::values(c.tensor()));
  const double mean = std::accumulate(va.begin(), va.end(), 0.0) / double(va.size());
  double var = 0;
  for (float v : va) var += (v - mean) * (v - mean);
  var /= double(va.size());
  BOOST_TEST(std::abs(mean) < 0.1);
  BOOST_TEST(std::abs(var - 1.0) < 0.1);
}

// The sample correlation of two equally long fields.
double correlation(const std::vector<float>& x, const std::vector<float>& y) {
  const double n = double(x.size());
  double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
  for (size_t k = 0; k < x.size(); ++k) mx += x[k], my += y[k];
  mx /= n, my /= n;
  for (size_t k = 0; k < x.size(); ++k)
    sxy += (x[k] - mx) * (y[k] - my), sxx += (x[k] - mx) * (x[k] - mx), syy += (y[k] - my) * (y[k] - my);
  return sxy / std::sqrt(sxx * syy);
}

// Seeds 2^32 apart give independent noise (torch's CPU generator keeps 32 bits of a seed, so they had given one),
// and so do neighbouring seeds above 2^32, each standard normal; below 2^32 the noise is BFL's get_noise on a CPU.
// Bounds: over n values the mean's standard deviation is 1/sqrt(n), the variance's sqrt(2/n), and the sample
// correlation of two independent fields' 1/sqrt(n); 6 of each.
BOOST_AUTO_TEST_CASE(seeds_that_differ_above_32_bits_give_independent_standard_normal_noise) {
  ModelProxy model = library().create(kTiny);
  CallContext ctx;
  const uint64_t two32 = uint64_t(1) << 32;
  const std::vector<uint64_t> seeds = {7, two32 + 7, two32 + 8, 2 * two32 + 7, ~uint64_t(0)};
  std::vector<std::vector<float>> noises;
  for (uint64_t seed : seeds) noises.push_back(test::values(model.noise(seed, 128, 96, ctx).tensor()));
  const double n = double(noises[0].size());
  const auto moments = [](const std::vector<float>& v) {
    double mean = 0, var = 0;
    for (float x : v) mean += x;
    mean /= double(v.size());
    for (float x : v) var += (x - mean) * (x - mean);
    return std::make_pair(mean, var / double(v.size()));
  };
  for (size_t i = 0; i < seeds.size(); ++i) {
    const auto [mean, var] = moments(noises[i]);
    BOOST_TEST(std::abs(mean) < 6.0 / std::sqrt(n), "seed " << seeds[i] << ": mean " << mean);
    BOOST_TEST(std::abs(var - 1.0) < 6.0 * std::sqrt(2.0 / n), "seed " << seeds[i] << ": variance " << var);
    for (size_t j = 0; j < i; ++j) {
      const double r = correlation(noises[i], noises[j]);
      BOOST_TEST(std::abs(r) < 6.0 / std::sqrt(n), "seeds " << seeds[i] << " and " << seeds[j] << ": correlation " << r);
    }
  }
  // Below 2^32, BFL's get_noise on a CPU: randn [1, c, 2 gh, 2 gw] from the seeded generator, packed
  // b c (h 2) (w 2) -> b (h w) (c 2 2); c from the packed width.
  ManagedTensor seven = model.noise(7, 128, 96, ctx);
  const int64_t gh = 128 / 16, gw = 96 / 16, c = seven.shape().at(2) / 4;
  at::Generator g = at::detail::createCPUGenerator(7);
  const torch::Tensor z = torch::randn({1, c, 2 * gh, 2 * gw}, g, torch::TensorOptions().dtype(torch::kFloat32));
  const torch::Tensor packed = z.view({1, c, gh, 2, gw, 2}).permute({0, 2, 4, 1, 3, 5}).reshape({1, gh * gw, c * 4});
  const std::vector<float> expected(packed.data_ptr<float>(), packed.data_ptr<float>() + packed.numel());
  BOOST_TEST(noises[0] == expected);
}

// The model's normal() (euler-ancestral's re-noise) for seeds 2^34 apart above 2^32 at one stream: independent
// (the generator keeps 32 bits, which its mix had taken from seed bits 0-33 only). Bound as above: |r| < 6/sqrt(n).
BOOST_AUTO_TEST_CASE(normal_for_seeds_above_32_bits_is_independent) {
  ModelProxy model = library().create(kTiny);
  CallContext ctx;
  const genplug_model_tensor_ops_t* ops = model.tensor_ops();
  BOOST_TEST_REQUIRE(ops != nullptr);
  ManagedTensor a = model.noise(1, 128, 96, ctx), b = model.noise(1, 128, 96, ctx);
  const uint64_t seed = (uint64_t(1) << 32) + 5;
  BOOST_TEST_REQUIRE(ops->normal(model.raw(), &a.tensor(), seed, 3, ctx.get()) == GENPLUG_OK);
  BOOST_TEST_REQUIRE(ops->normal(model.raw(), &b.tensor(), seed + (uint64_t(1) << 34), 3, ctx.get()) == GENPLUG_OK);
  const std::vector<float> x = test::values(a.tensor()), y = test::values(b.tensor());
  const double r = correlation(x, y);
  BOOST_TEST(std::abs(r) < 6.0 / std::sqrt(double(x.size())), "correlation " << r);
}

BOOST_AUTO_TEST_CASE(condition_predict_decode_encode) {
  ModelProxy model = library().create(kTiny);
  CallContext ctx;
  Conditioning c(model.condition("a lighthouse at dusk", "", ctx));
  BOOST_TEST_REQUIRE(c.items.size() == 2u);
  BOOST_TEST(c.items[0].first == "txt");
  BOOST_TEST(c.items[0].second.shape().at(2) == 48);
  BOOST_TEST(c.items[1].first == "vec");
  BOOST_TEST(c.items[1].second.shape() == std::vector<int64_t>({1, 32}));

  ManagedTensor x = model.noise(1, 64, 64, ctx);
  auto plain = predict_args(x.tensor(), 64, 64, 0.8, 3.5, c, nullptr);
  ManagedTensor v = model.predict(plain, ctx);
  BOOST_TEST(v.shape() == x.shape());
  const auto vp = test::values(v.tensor());
  BOOST_TEST(std::all_of(vp.begin(), vp.end(), [](float f) { return std::isfinite(f); }));

  // The plain spectrum passed explicitly gives the same velocity; an amplitude changes it.
  std::vector<double> freqs, amplitude{1, 1, 1};
  for (int d : {4, 6, 6})
    for (int k = 0; k < d / 2; ++k) freqs.push_back(std::pow(10000.0, -2.0 * k / d));
  genplug_spectrum_t s{sizeof(genplug_spectrum_t), freqs.data(), uint32_t(freqs.size()), amplitude.data(), 3, 0};
  auto with_spectrum = predict_args(x.tensor(), 64, 64, 0.8, 3.5, c, &s);
  const auto vs = test::values(model.predict(with_spectrum, ctx).tensor());
  BOOST_TEST(test::relative_error(vs, vp) < 1e-5);
  amplitude = {1.0, 1.2, 1.2};
  BOOST_TEST(test::differ_by_more_than(test::values(model.predict(with_spectrum, ctx).tensor()), vp, 1e-4));

  ManagedTensor image = model.decode(x.tensor(), 64, 64, ctx);
  BOOST_TEST(image.shape() == std::vector<int64_t>({1, 3, 64, 64}));
  ManagedTensor back = model.encode(image.tensor(), ctx);
  BOOST_TEST(back.shape() == x.shape());
}

// true_cfg_scale s: v = v(negative) + s (v(prompt) - v(negative)), the negative prompt's conditioning made by
// condition() beside the prompt's. Checked against two unguided predictions of the same weights: the forwards
// are identical computations, so only the float32 combination differs (a few ulp of s |v|: bound 1e-5).
BOOST_AUTO_TEST_CASE(true_cfg_scale_extrapolates_away_from_the_negative_prompt) {
  const double scale = 3.0;
  ModelProxy plain = library().create(kTiny);
  ModelProxy guided = library().create(
      json{{"transformer", "random"}, {"preset", "tiny"}, {"seed", 3}, {"true_cfg_scale", scale},
           {"negative_prompt", "fog"}}.dump());
  CallContext ctx;
  BOOST_TEST(json::parse(guided.describe()).at("conditioning") == json({"txt", "vec", "txt_negative", "vec_negative"}));
  BOOST_TEST(json::parse(guided.describe()).at("defaults").at("true_cfg_scale") == scale);
  BOOST_TEST(json::parse(plain.describe()).at("defaults").at("true_cfg_scale") == 1.0);
  Conditioning both(guided.condition("a lighthouse at dusk", "", ctx));
  BOOST_TEST_REQUIRE(both.items.size() == 4u);
  BOOST_TEST(both.items[2].first == "txt_negative");
  BOOST_TEST(both.items[3].first == "vec_negative");
  Conditioning prompt(plain.condition("a lighthouse at dusk", "", ctx)), negative(plain.condition("fog", "", ctx));

  ManagedTensor x = plain.noise(5, 64, 64, ctx);
  auto velocity = [&](const ModelProxy& m, const Conditioning& c) {
    return test::values(m.predict(predict_args(x.tensor(), 64, 64, 0.7, 0.0, c, nullptr), ctx).tensor());
  };
  const std::vector<float> v_guided = velocity(guided, both), v_prompt = velocity(plain, prompt),
                           v_negative = velocity(plain, negative);
  std::vector<float> expected(v_prompt.size());
  for (size_t i = 0; i < expected.size(); ++i)
    expected[i] = float(v_negative[i] + scale * (double(v_prompt[i]) - v_negative[i]));
  BOOST_TEST(test::relative_error(v_guided, expected) < 1e-5);
  BOOST_TEST(test::differ_by_more_than(v_prompt, v_negative, 1e-3));  // the prompts do differ: the check has teeth

  // Without the negative conditioning (a host that dropped it) predict says what is missing.
  try {
    guided.predict(predict_args(x.tensor(), 64, 64, 0.7, 0.0, prompt, nullptr), ctx);
    BOOST_ERROR("guided predict without txt_negative was accepted");
  } catch (const PluginError& e) {
    BOOST_TEST(e.code() == GENPLUG_E_INVALID_ARGUMENT);
    BOOST_TEST(std::string(e.what()).find("txt_negative") != std::string::npos, e.what());
  }
}

// config.text "keep_loaded": false unloads the encoders after each image's conditioning (the prompt's and the
// negative prompt's); the next image loads them again and gets what encoders kept loaded give.
BOOST_AUTO_TEST_CASE(text_encoders_not_kept_give_the_same_conditioning_image_after_image) {
  const auto create = [&](bool keep) {
    return library().create(json{{"transformer", "random"}, {"preset", "tiny"}, {"true_cfg_scale", 2.0},
                                 {"negative_prompt", "fog"},
                                 {"text", {{"random", {{"seed", 5}}}, {"keep_loaded", keep}}}}.dump());
  };
  ModelProxy kept = create(true), released = create(false);
  CallContext ctx;
  for (const char* prompt : {"a lighthouse at dusk", "a red fox", "a lighthouse at dusk"}) {
    Conditioning a(kept.condition(prompt, "", ctx)), b(released.condition(prompt, "", ctx));
    BOOST_TEST_REQUIRE(a.items.size() == 4u);
    BOOST_TEST_REQUIRE(b.items.size() == 4u);
    for (size_t i = 0; i < a.items.size(); ++i)
      BOOST_TEST(test::values(a.items[i].second.tensor()) == test::values(b.items[i].second.tensor()),
                 prompt << ": " << a.items[i].first);
  }
  std::string message;
  BOOST_TEST(create_status(R"({"transformer": "random", "text": {"random": true, "keep_loaded": 1}})", &message) ==
             GENPLUG_E_CONFIG);
  BOOST_TEST(message.find("config.text.keep_loaded: must be true or false") != std::string::npos, message);
}

// A key given twice is refused, as hosts refuse it in manifests and options (JSON keeps the last value only).
BOOST_AUTO_TEST_CASE(a_config_key_given_twice_is_refused) {
  for (const char* text : {R"({"transformer": "random", "transformer": "random"})",
                           R"({"transformer": "random", "text": {"random": true, "random": false}})"}) {
    std::string message;
    BOOST_TEST(create_status(text, &message) == GENPLUG_E_CONFIG, text);
    BOOST_TEST(message.find("appears twice in one object") != std::string::npos, text << ": " << message);
  }
}

// config.text is checked when the config is parsed, as its schema says (the fuzz target holds the parser to it).
BOOST_AUTO_TEST_CASE(text_options_are_checked_against_their_schema) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"6random": true})", "config.text.6random: unknown field (allowed: clip, clip_num_heads"},
      {R"({"t5": 5})", "config.text.t5: must be a string or null"},
      {R"({"max_length": 0})", "config.text.max_length: must be an integer from 1 to 1048576, got 0"},
      {R"({"clip_num_heads": true})", "config.text.clip_num_heads: must be an integer >= 1"},
      {R"({"random": 1})", "config.text.random: must be true, false or"},
      {R"({"random": {"seed": -1}})", "config.text.random.seed: must be an integer from 0"},
      {R"({"random": {"max_length": 1048577}})", "config.text.random.max_length: must be an integer from 1 to"},
      {R"({"random": {"sed": 1}})", "config.text.random.sed: unknown field (allowed: seed, max_length)"},
      {R"({"random": {"seed": -3}})", "config.text.random.seed: must be an integer from 0 to 18446744073709551615, got -3"},
      {R"({"random": true, "clip": "a\u0000b"})", "config.text.clip: contains a NUL character"}};
  for (const auto& [text, expected] : cases) {
    std::string message;
    BOOST_TEST(create_status(std::string(R"({"transformer": "random", "text": )") + text + "}", &message) ==
                   GENPLUG_E_CONFIG,
               text);
    BOOST_TEST(message.find(expected) != std::string::npos, text << ": " << message);
  }
  // What the schema allows at its edges is taken (random text encoders: nothing is read from the paths).
  for (const char* text : {R"({"random": {}, "t5": null, "clip_tokenizer": null})",
                           R"({"random": {"seed": 18446744073709551615, "max_length": 1048576}})",
                           R"({"random": true, "keep_loaded": false, "max_length": 1, "clip_num_heads": 1})"}) {
    std::string message;
    BOOST_TEST(create_status(std::string(R"({"transformer": "random", "text": )") + text + "}", &message) == GENPLUG_OK,
               text << ": " << message);
  }
}

// A file name with a NUL would open the file its first part names; a LoRA's scale is bounded as a job's.
BOOST_AUTO_TEST_CASE(paths_and_lora_scales_are_refused_as_the_schema_says) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"transformer": "random\u0000.safetensors"})", "config.transformer: contains a NUL character"},
      {R"({"vae": "x\u0000"})", "config.vae: contains a NUL character"},
      {R"({"conditioning": "c.safetensors\u0000x"})", "config.conditioning: contains a NUL character"},
      {R"({"loras": [{"path": "l.safetensors\u0000"}]})", "config.loras[0].path: contains a NUL character"},
      {R"({"loras": [{"path": "l.safetensors", "scale": 100.5}]})", "config.loras[0].scale: must be a number from -100"},
      {R"({"loras": [{"path": "l.safetensors", "scale": -101}]})", "config.loras[0].scale: must be a number from -100"},
      {R"({"width": 24})", "config.width: must be a multiple of 16"}};
  for (const auto& [config, expected] : cases) {
    std::string message;
    BOOST_TEST(create_status(config, &message) == GENPLUG_E_CONFIG, config);
    BOOST_TEST(message.find(expected) != std::string::npos, config << ": " << message);
  }
}

BOOST_AUTO_TEST_CASE(true_cfg_scale_errors_name_the_field) {
  std::string message;
  BOOST_TEST(create_status(R"({"transformer": "random", "preset": "tiny", "true_cfg_scale": 0.5})", &message) ==
             GENPLUG_E_CONFIG);
  BOOST_TEST(message.find("true_cfg_scale") != std::string::npos, message);
  BOOST_TEST(create_status(R"({"transformer": "random", "preset": "tiny", "negative_prompt": 3})", &message) ==
             GENPLUG_E_CONFIG);
  BOOST_TEST(message.find("negative_prompt") != std::string::npos, message);
  // Precomputed conditioning has no negative prompt to encode.
  GoldenPlugin golden;
  BOOST_TEST(create_status(json{{"transformer", test::golden("flux/flux_tiny_bfl.safetensors").string()},
                                {"vae", "none"},
                                {"config", {{"axes_dim", golden.info.at("meta").at("params").at("axes_dim")},
                                            {"theta", golden.info.at("meta").at("params").at("theta")}}},
                                {"conditioning", golden.conditioning.string()},
                                {"true_cfg_scale", 2.0}}.dump(),
                           &message) == GENPLUG_E_CONFIG);
  BOOST_TEST(message.find("true_cfg_scale") != std::string::npos, message);
}

BOOST_AUTO_TEST_CASE(bf16_weights_track_f32) {
  // Same seed, same random weights, rounded once to bf16 at load. Conditioning and noise come from the f32
  // instance so only the transformer differs: bf16 products ("compute_dtype": "bf16"), or the CPU default for
  // bf16 weights, f32 products of the weights widened layer by layer (only the weights' rounding, no activation's).
  const test::Bf16AsOnCappedIsa isa;
  ModelProxy f32 = library().create(kTiny);
  ModelProxy bf16 = library().create(
      R"({"transformer": "random", "preset": "tiny", "seed": 3, "dtype": "bf16", "compute_dtype": "bf16"})");
  ModelProxy kept = library().create(
      R"({"transformer": "random", "preset": "tiny", "seed": 3, "dtype": "bf16", "compute_dtype": "f32"})");
  BOOST_TEST(json::parse(bf16.describe()).at("compute_dtype") == "bf16");
  BOOST_TEST(json::parse(kept.describe()).at("compute_dtype") == "f32");
  BOOST_TEST(json::parse(kept.describe()).at("dtype") == "bf16");
  // "auto" (the default): bf16 products where they outrun f32 ones (AMX, AMD's AVX512-BF16), else the widened
  // weights; never bf16 products where the CPU has no native ones.
  const json automatic = json::parse(
      library().create(R"({"transformer": "random", "preset": "tiny", "seed": 3, "dtype": "bf16"})").describe());
  BOOST_TEST(automatic.at("compute_dtype") == (automatic.at("cpu_bf16_outruns_f32").get<bool>() ? "bf16" : "f32"));
  BOOST_TEST(json::parse(f32.describe()).at("compute_dtype") == "f32");
  CallContext ctx;
  // Conditioning comes in the compute dtype: widened bf16 weights get it unrounded.
  for (const auto& [name, t] : Conditioning(kept.condition("a lighthouse", "", ctx)).items)
    BOOST_TEST((t.tensor().dtype.code == kDLFloat && t.tensor().dtype.bits == 32), name);
  for (const auto& [name, t] : Conditioning(bf16.condition("a lighthouse", "", ctx)).items)
    BOOST_TEST((t.tensor().dtype.code == kDLBfloat && t.tensor().dtype.bits == 16), name);
  Conditioning c(f32.condition("a lighthouse", "", ctx));
  ManagedTensor x = f32.noise(2, 64, 64, ctx);
  auto a = predict_args(x.tensor(), 64, 64, 0.6, 3.5, c, nullptr);
  const std::vector<float> reference = test::values(f32.predict(a, ctx).tensor());
  ManagedTensor v16 = bf16.predict(a, ctx), vkept = kept.predict(a, ctx);
  BOOST_TEST(v16.tensor().dtype.bits == 32);  // the ABI latent stays float32
  BOOST_TEST(vkept.tensor().dtype.bits == 32);
  const double err = test::relative_error(test::values(v16.tensor()), reference);
  const double err_kept = test::relative_error(test::values(vkept.tensor()), reference);
  BOOST_TEST_MESSAGE("velocity vs f32, relative error: bf16 products " << err << ", bf16 weights widened " << err_kept);
  BOOST_TEST(err < 0.05);
  BOOST_TEST(err > 0.0);       // it really ran in bf16
  BOOST_TEST(err_kept > 0.0);  // the weights really are bf16
  BOOST_TEST(err_kept < err);  // without the activations' rounding
}

BOOST_AUTO_TEST_CASE(wrong_sizes_are_invalid_arguments) {
  ModelProxy model = library().create(kTiny);
  CallContext ctx;
  ManagedTensor x = model.noise(1, 64, 64, ctx);
  Conditioning c(model.condition("", "", ctx));
  auto expect_invalid = [&](auto&& call, const char* what) {
    try {
      call();
      BOOST_ERROR(what << " was accepted");
    } catch (const PluginError& e) {
      BOOST_TEST(e.code() == GENPLUG_E_INVALID_ARGUMENT, what << ": " << e.what());
    }
  };
  auto wrong_grid = predict_args(x.tensor(), 64, 80, 0.5, 3.5, c, nullptr);  // latent is for 64 x 64
  expect_invalid([&] { model.predict(wrong_grid, ctx); }, "a latent of another size");
  expect_invalid([&] { model.noise(1, 60, 64, ctx); }, "a height that is not a multiple of 16");
  expect_invalid([&] { model.decode(x.tensor(), 64, 48, ctx); }, "decode with a wrong grid");
  Conditioning none({});
  auto no_text = predict_args(x.tensor(), 64, 64, 0.5, 3.5, none, nullptr);
  expect_invalid([&] { model.predict(no_text, ctx); }, "predict without conditioning");
  // Sizes beyond the manifest's 65536 pixels a side: geometry had answered with a wrapped memory estimate and
  // noise failed as an internal error with libtorch's stack.
  expect_invalid([&] { model.geometry(65536 + 16, 64, 1, ctx); }, "a side of 65552 pixels");
  expect_invalid([&] { model.geometry(4294967280u, 4294967280u, 1, ctx); }, "a side of 2^32 - 16 pixels");
  expect_invalid([&] { model.noise(1, 4294967280u, 4294967280u, ctx); }, "noise of 2^32 - 16 pixels a side");
  BOOST_TEST(model.geometry(65536, 64, 1, ctx).image_tokens == 4096u * 4u);
  // sigma outside [0, 1] (model.h) had given NaN velocities and OK; a guidance no float32 holds, libtorch's error.
  for (double sigma : {std::nan(""), -0.5, 1.5, double(INFINITY)}) {
    auto bad_sigma = predict_args(x.tensor(), 64, 64, sigma, 3.5, c, nullptr);
    expect_invalid([&] { model.predict(bad_sigma, ctx); }, "a sigma outside [0, 1]");
  }
  if (model.geometry(64, 64, 1, ctx).default_guidance != 0) {  // a model with distilled guidance reads it
    auto bad_guidance = predict_args(x.tensor(), 64, 64, 0.5, 1e308, c, nullptr);
    expect_invalid([&] { model.predict(bad_guidance, ctx); }, "a guidance of 1e308");
  }
  // A negative dimension in a latent is a malformed struct, not libtorch's internal error.
  DLTensor negative = x.tensor();
  std::vector<int64_t> shape(negative.shape, negative.shape + negative.ndim);
  shape[1] = -5;
  negative.shape = shape.data();
  negative.strides = nullptr;
  auto negative_args = predict_args(negative, 64, 64, 0.5, 3.5, c, nullptr);
  expect_invalid([&] { model.predict(negative_args, ctx); }, "a latent of shape[1] -5");
  // condition()'s options are a JSON object (model.h), and FLUX takes none.
  expect_invalid([&] { model.condition("x", "not json", ctx); }, "condition options that are no JSON");
  expect_invalid([&] { model.condition("x", "[1]", ctx); }, "condition options that are an array");
  expect_invalid([&] { model.condition("x", "null", ctx); }, "condition options that are null");
  try {
    model.condition("x", R"({"steps": 4})", ctx);
    BOOST_ERROR("a condition option FLUX does not take was accepted");
  } catch (const PluginError& e) {
    BOOST_TEST(e.code() == GENPLUG_E_CONFIG, e.what());
    BOOST_TEST(std::string(e.what()).find("'steps'") != std::string::npos, e.what());
  }
  BOOST_TEST(Conditioning(model.condition("x", "{}", ctx)).items.size() == 2u);
  // A sink whose struct_size (0) does not reach put is refused rather than called.
  genplug_tensor_sink_t short_sink{};
  short_sink.put = [](const genplug_tensor_sink_t*, const char*, DLManagedTensor* t) {
    if (t && t->deleter) t->deleter(t);
    return GENPLUG_OK;
  };
  BOOST_TEST(model.raw()->condition(model.raw(), "x", nullptr, &short_sink, ctx.get()) == GENPLUG_E_INVALID_ARGUMENT);
}

// A latent said to be on a CUDA device, in a process without one (or a libtorch without CUDA): unsupported, said
// so, where libtorch's own error had been an internal one with its stack trace.
BOOST_AUTO_TEST_CASE(a_cuda_latent_without_cuda_is_unsupported) {
  ModelProxy model = library().create(kTiny);
  CallContext ctx;
  if (std::filesystem::exists("/dev/nvidiactl")) return;  // a GPU here: host memory said to be a device's is UB
  ManagedTensor x = model.noise(1, 64, 64, ctx);
  Conditioning c(model.condition("", "", ctx));
  DLTensor on_cuda = x.tensor();
  on_cuda.device = {kDLCUDA, 0};
  auto args = predict_args(on_cuda, 64, 64, 0.5, 3.5, c, nullptr);
  try {
    model.predict(args, ctx);
    BOOST_ERROR("a CUDA latent was accepted by a CPU model");
  } catch (const PluginError& e) {
    BOOST_TEST((e.code() == GENPLUG_E_UNSUPPORTED || e.code() == GENPLUG_E_INVALID_ARGUMENT), e.what());
    BOOST_TEST(std::string(e.what()).find("frame #") == std::string::npos, e.what());
  }
}

// Under a ulimit -v that leaves a CPU decode less than its maps and its threads' room, decode is out of memory, said
// with ulimit -v, before it starts a thread: there a thread pool had deadlocked and oneDNN crashed (SIGSEGV). In a
// child process (fork), whose limit ends with it; what the child calls before the refusal starts no thread.
BOOST_AUTO_TEST_CASE(a_decode_beyond_ulimit_v_is_out_of_memory) {
  ModelProxy model = library().create(R"({"transformer": "random", "preset": "tiny", "seed": 3})");
  CallContext ctx;
  ManagedTensor x = model.noise(4, 128, 128, ctx);
  const int child = test::under_address_space_limit(uint64_t(8) << 20, [&] {
    try {
      CallContext c;
      model.decode(x.tensor(), 128, 128, c);
    } catch (const PluginError& e) {
      return e.code() == GENPLUG_E_OUT_OF_MEMORY &&
             std::string(e.what()).find("of address space (its feature maps, its threads' stacks and compiled "
                                        "kernels), and ulimit -v leaves") != std::string::npos;
    }
    return false;
  });
  BOOST_TEST(child == 0);  // 1: decoded, or another error; 3: another exception; 128 + n: signal n
  BOOST_CHECK_NO_THROW(model.decode(x.tensor(), 128, 128, ctx));  // without the limit, it decodes
}

// A weights file that cannot be mapped for want of address space (ulimit -v) is no bad file, and no shortage either
// where it is larger than the limit itself: any retry of the command fails alike, so create fails as for a config
// beyond the machine (GENPLUG_E_CONFIG, exit 3), naming the file and the limit. Within the limit, though beyond
// what is left, it is out of memory (exit 75: another attempt may map it). Sparse: zeros, no disk.
BOOST_AUTO_TEST_CASE(weights_beyond_ulimit_v_are_out_of_memory_or_beyond_reach) {
  test::TempDir dir("flux-big");
  const uint64_t left = uint64_t(512) << 20, mapped = test::vm_size();
  auto create_fails = [&](const char* name, uint64_t size, genplug_status code, const std::string& why) {
    const std::filesystem::path big = dir.path / name;
    std::ofstream(big, std::ios::binary).put('\0');
    std::filesystem::resize_file(big, size);
    return test::under_address_space_limit(left, [&] {
      try {
        library().create(json{{"transformer", big.string()}, {"preset", "tiny"}}.dump());
      } catch (const PluginError& e) {
        return e.code() == code && std::string(e.what()).find(big.string() + ": cannot memory-map its " +
                                                              std::to_string(size) + " bytes: " + why) != std::string::npos;
      }
      return false;
    });
  };
  // 1: created, or another error; 3: another exception; 128 + n: signal n
  BOOST_TEST(create_fails("near.safetensors", left + std::min(mapped / 2, uint64_t(1) << 30), GENPLUG_E_OUT_OF_MEMORY, "") == 0);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)  // their shadow maps: terabytes of VmSize
  BOOST_TEST(create_fails("big.safetensors", mapped + left + (uint64_t(1) << 30), GENPLUG_E_CONFIG,
                          "more than the address-space limit (ulimit -v) of ") == 0);
#endif
}

BOOST_AUTO_TEST_CASE(vae_tiling_is_configurable) {
  // Forced tiling (auto_above 0, 4-latent-pixel tiles) changes the decode of a 128 px image only by the
  // seams' blending; an overlap beyond half the tile is refused at create, naming the field.
  ModelProxy untiled = library().create(R"({"transformer": "random", "preset": "tiny", "seed": 3,
                                            "vae_tiling": {"enabled": false}})");
  ModelProxy tiled = library().create(R"({"transformer": "random", "preset": "tiny", "seed": 3,
                                          "vae_tiling": {"auto_above": 0, "tile": 8, "overlap": 2}})");
  CallContext ctx;
  ManagedTensor x = untiled.noise(4, 128, 128, ctx);
  const auto a = test::values(untiled.decode(x.tensor(), 128, 128, ctx).tensor());
  const auto b = test::values(tiled.decode(x.tensor(), 128, 128, ctx).tensor());
  const double err = test::relative_error(b, a);
  BOOST_TEST_MESSAGE("forced tiling vs untiled, relative error " << err);
  BOOST_TEST(err > 0.0);  // it really tiled
  BOOST_TEST(err < 1.0);  // and it is the same picture, give or take the seams (random weights: docs/vae.md)
  // An overlap beyond half the tile is refused too: 8 and 7 stepped by one latent pixel, a decode per pixel.
  for (const char* overlap : {"8", "5"}) {
    try {
      library().create(std::string(R"({"transformer": "random", "preset": "tiny", "vae_tiling": {"tile": 8, "overlap": )") +
                       overlap + "}}");
      BOOST_ERROR("an overlap of " << overlap << " on a tile of 8 was accepted");
    } catch (const PluginError& e) {
      BOOST_TEST(e.code() == GENPLUG_E_CONFIG);
      BOOST_TEST(std::string(e.what()).find("config.vae_tiling.overlap: " + std::string(overlap) +
                                            " must be at most half of tile (8)") != std::string::npos,
                 e.what());
    }
  }
  BOOST_CHECK_NO_THROW(
      library().create(R"({"transformer": "random", "preset": "tiny", "vae_tiling": {"tile": 8, "overlap": 4}})"));
  // A small tile alone takes half of it as overlap (the default 16 would be too much); an overlap alone is held
  // to the default tile, which the message says; a tile is at most 8192 latent pixels (its area fits int64).
  BOOST_CHECK_NO_THROW(library().create(R"({"transformer": "random", "preset": "tiny", "vae_tiling": {"tile": 16}})"));
  for (const auto& [tiling, expected] :
       {std::pair{R"({"overlap": 33})", "config.vae_tiling.overlap: 33 must be at most half of tile (64, the default)"},
        std::pair{R"({"tile": 9223372036854775807})",
                  "config.vae_tiling.tile: must be an integer from 8 to 8192, got 9223372036854775807"},
        std::pair{R"({"tile": 8192, "overlap": 4097})",
                  "config.vae_tiling.overlap: 4097 must be at most half of tile (8192)"}}) {
    std::string message;
    BOOST_TEST(create_status(std::string(R"({"transformer": "random", "vae_tiling": )") + tiling + "}", &message) ==
               GENPLUG_E_CONFIG);
    BOOST_TEST(message.find(expected) != std::string::npos, message);
  }
}

// A tiled decode reports each tile run and stops within one tile when the host asks: by the progress callback's
// answer, or by the cancel flag (which a signal handler raises while decode runs).
BOOST_AUTO_TEST_CASE(tiled_decode_reports_progress_and_stops_between_tiles) {
  ModelProxy tiled = library().create(R"({"transformer": "random", "preset": "tiny", "seed": 3,
                                          "vae_tiling": {"auto_above": 0, "tile": 8, "overlap": 2}})");
  CallContext quiet;
  ManagedTensor x = tiled.noise(4, 128, 128, quiet);
  std::vector<std::pair<uint64_t, uint64_t>> reports;
  CallContext ctx;
  ctx.on_progress([&](uint64_t done, uint64_t total, const std::string& stage) {
    BOOST_TEST(stage == "decode");
    reports.emplace_back(done, total);
    return false;
  });
  tiled.decode(x.tensor(), 128, 128, ctx);
  BOOST_TEST_REQUIRE(reports.size() > 2u);
  for (size_t i = 0; i < reports.size(); ++i) {
    BOOST_TEST(reports[i].first == i + 1);
    BOOST_TEST(reports[i].second == reports.size());
  }

  auto expect_cancelled_after = [&](size_t runs, const char* how) {
    try {
      tiled.decode(x.tensor(), 128, 128, ctx);
      BOOST_ERROR(how << ": the decode ran to the end");
    } catch (const PluginError& e) {
      BOOST_TEST(e.code() == GENPLUG_E_CANCELLED, how << ": " << e.what());
    }
    BOOST_TEST(reports.size() == runs, how);
  };
  reports.clear();
  ctx.on_progress([&](uint64_t done, uint64_t total, const std::string&) {
    reports.emplace_back(done, total);
    return done == 2;  // "stop" as the answer to the second report
  });
  expect_cancelled_after(2, "progress answers stop");

  std::atomic<bool> cancel{false};
  ctx.cancel_flag(&cancel);
  reports.clear();
  ctx.on_progress([&](uint64_t done, uint64_t total, const std::string&) {
    reports.emplace_back(done, total);
    cancel = true;  // as a SIGINT during the first tile would
    return false;
  });
  expect_cancelled_after(1, "cancel flag raised");
}

BOOST_AUTO_TEST_SUITE_END()

// Random weights no machine holds are refused before they are drawn, as a config error (a retry fails alike): under
// Linux's overcommit they had been "allocated", and the OOM killer ended the process while they were written. 10^13
// pooled-vector channels make vector_in alone 2.56 PB, beyond x86-64's 128 TiB of user address space.
BOOST_AUTO_TEST_CASE(random_weights_beyond_the_machine_are_a_config_error) {
  std::string message;
  BOOST_TEST(create_status(R"({"config": {"vec_in_dim": 10000000000000}})", &message) == GENPLUG_E_CONFIG);
  BOOST_TEST(message.find("random weights of preset tiny with config.config's changes (640000000") != std::string::npos,
             message);
  BOOST_TEST(message.find(" with what building the model takes besides, more than this process can ever add (") != std::string::npos, message);
  BOOST_TEST(message.find("memory and swap within its cgroup and ulimit -v, less what it holds)") != std::string::npos, message);
  BOOST_TEST(message.find("Instead: a checkpoint file (memory-mapped where its dtype is kept), dtype bf16, or a smaller preset or config") != std::string::npos, message);
  // Already bf16: that is not offered again. (Here more bytes than f32: each weight is drawn in float32 first, and
  // vector_in alone is nearly all of them.)
  BOOST_TEST(create_status(R"({"dtype": "bf16", "config": {"vec_in_dim": 10000000000000}})", &message) ==
             GENPLUG_E_CONFIG);
  BOOST_TEST(message.find(" as bf16, ") != std::string::npos, message);
  BOOST_TEST(message.find("dtype bf16,") == std::string::npos, message);
}

// A decoder of other than 3 channels (an RGBA one, a VAE of another family) is refused at create, naming both
// convolutions: it had passed, and the render failed after its whole denoise as a breach of model.h (exit 4).
BOOST_AUTO_TEST_CASE(an_autoencoder_that_is_not_rgb_is_a_config_error) {
  const std::filesystem::path mini = std::filesystem::path(GENPLUG_SOURCE_DIR) / "models" / "mini" / "vae";
  test::TempDir dir("flux-rgba-vae");
  {
    const st::Checkpoint source(mini / "ae.safetensors");
    std::vector<st::TensorData> tensors;
    for (const st::TensorInfo& t : source.tensors()) {
      std::vector<int64_t> shape = t.shape;
      std::vector<float> values = st::to_float32(t);
      if (t.name.find("decoder.conv_out.") != std::string::npos) {  // one more output channel, a copy of the last
        const size_t per_channel = values.size() / size_t(shape[0]);
        values.insert(values.end(), values.end() - std::ptrdiff_t(per_channel), values.end());
        shape[0] += 1;
      }
      tensors.push_back(st::TensorData::from_floats(t.name, shape, values));
    }
    st::write_file(dir.path / "ae.safetensors", tensors);
  }
  std::string message;  // no config.json beside it: its out_channels would refuse the file before the check does
  const json config = {{"preset", "mini"}, {"vae", (dir.path / "ae.safetensors").string()}};
  BOOST_TEST(create_status(config.dump(), &message) == GENPLUG_E_CONFIG, message);
  BOOST_TEST(message.find("config.vae: the autoencoder decodes 4 channels and encodes 3 (decoder.conv_out, "
                          "encoder.conv_in); images are RGB, 3 channels") != std::string::npos,
             message);
}

BOOST_AUTO_TEST_CASE(config_errors_name_the_field_or_file) {
  std::string message;
  BOOST_TEST(create_status(R"({"transformer": "random", "presett": "tiny"})", &message) == GENPLUG_E_CONFIG);
  BOOST_TEST(message.find("presett") != std::string::npos, message);
  BOOST_TEST(create_status(R"({"device": "cpu:99"})", &message) == GENPLUG_E_CONFIG);  // one CPU device
  BOOST_TEST(message.find("device: 'cpu:99' is not one of cpu, cuda, cuda:N") != std::string::npos, message);
  BOOST_TEST(create_status(R"({"dtype": "f64"})", &message) == GENPLUG_E_CONFIG);
  BOOST_TEST(message.find("dtype") != std::string::npos, message);
  BOOST_TEST(create_status(R"({"quantize": "int4"})", &message) == GENPLUG_E_CONFIG);
  BOOST_TEST(message.find("quantize") != std::string::npos, message);
  BOOST_TEST(create_status(R"({"dtype": "bf16", "compute_dtype": "f64"})", &message) == GENPLUG_E_CONFIG);
  BOOST_TEST(message.find("compute_dtype") != std::string::npos, message);
  BOOST_TEST(create_status(R"({"config": {"num_heads": 5}})", &message) == GENPLUG_E_CONFIG);
  BOOST_TEST(message.find("num_heads") != std::string::npos, message);
  // Three rotary axes (index, row, column): a fourth had passed create and failed the first geometry() as an
  // internal error.
  BOOST_TEST(create_status(R"({"config": {"axes_dim": [4, 4, 4, 4], "hidden_size": 32, "num_heads": 2}})", &message) ==
             GENPLUG_E_CONFIG);
  BOOST_TEST(message.find("config.config.axes_dim: must be an array of 3 integers") != std::string::npos, message);
  // An MLP no int64 holds (hidden x 1e18 had become a negative shape, a libtorch error) or narrower than one unit
  // (it had passed create and failed in predict).
  for (const char* config : {R"({"config": {"mlp_ratio": 1e18}})", R"({"config": {"mlp_ratio": 0.0001}})"}) {
    BOOST_TEST(create_status(config, &message) == GENPLUG_E_CONFIG, config);
    BOOST_TEST(message.find("mlp_ratio") != std::string::npos, message);
    BOOST_TEST(message.find("from 1 to 2^48") != std::string::npos, message);
    BOOST_TEST(message.find("000000") == std::string::npos, message);  // 1e+18, not in 19 digits and 6 decimals
  }
  BOOST_TEST(create_status(R"({"config": {"context_in_dim": 1000000000000000}})", &message) == GENPLUG_E_CONFIG);
  BOOST_TEST(message.find("context_in_dim 1000000000000000 is wider than 2^48") != std::string::npos, message);
  BOOST_TEST(create_status(R"({"transformer": "/nonexistent/flux.safetensors"})", &message) == GENPLUG_E_IO);
  BOOST_TEST(message.find("/nonexistent/flux.safetensors") != std::string::npos, message);
  // A file that is not the named preset: the error names the file and the first differing field.
  BOOST_TEST(create_status(json{{"transformer", test::golden("flux/flux_tiny_bfl.safetensors").string()},
                                {"preset", "flux-dev"}}.dump(),
                           &message) == GENPLUG_E_CONFIG);
  BOOST_TEST(message.find("flux_tiny_bfl.safetensors") != std::string::npos, message);
  // A checkpoint that is no FLUX transformer (the VAE golden has no img_in / x_embedder).
  BOOST_TEST(create_status(json{{"transformer", test::golden("flux/flux_tiny_io.safetensors").string()}}.dump(),
                           &message) != GENPLUG_OK);
  BOOST_TEST(message.find("flux_tiny_io.safetensors") != std::string::npos, message);
  // Integers past a field's range are refused with the value given, not cut to 32 bits (2^32 + 64 had become a
  // width of 64) nor, past 2^63, called negative; a seed takes any unsigned 64-bit value.
  struct OutOfRange {
    const char *config, *field, *value;
  };
  for (const OutOfRange& c :
       {OutOfRange{R"({"width": 4294967360})", "config.width", "4294967360"},
        OutOfRange{R"({"steps": 4294967298})", "config.steps", "4294967298"},
        OutOfRange{R"({"base_extent": [1, 4294967296, 4]})", "config.base_extent[1]", "4294967296"},
        OutOfRange{R"({"height": 18446744073709551615})", "config.height", "18446744073709551615"}}) {
    BOOST_TEST(create_status(c.config, &message) == GENPLUG_E_CONFIG, c.config);
    BOOST_TEST(message.find(c.field) != std::string::npos, message);
    BOOST_TEST(message.find(c.value) != std::string::npos, message);
  }
  // ... and below it, whether JSON holds the number as signed or (0 and up) as unsigned.
  for (const OutOfRange& c : {OutOfRange{R"({"steps": 0})", "config.steps", "got 0"},
                              OutOfRange{R"({"width": 0})", "config.width", "got 0"},
                              OutOfRange{R"({"height": -16})", "config.height", "got -16"},
                              OutOfRange{R"({"base_extent": [1, 0, 4]})", "config.base_extent[1]", "got 0"},
                              OutOfRange{R"({"vae_tiling": {"tile": 4}})", "config.vae_tiling.tile", "got 4"},
                              OutOfRange{R"({"attention_memory_mb": 0})", "config.attention_memory_mb", "got 0"}}) {
    BOOST_TEST(create_status(c.config, &message) == GENPLUG_E_CONFIG, c.config);
    BOOST_TEST(message.find(c.field) != std::string::npos, message);
    BOOST_TEST(message.find(c.value) != std::string::npos, message);
  }
  BOOST_TEST(create_status(R"({"seed": 18446744073709551615})", &message) == GENPLUG_OK, message);
  BOOST_TEST(create_status(R"({"seed": -1})", &message) == GENPLUG_E_CONFIG);
  BOOST_TEST(message.find("config.seed") != std::string::npos, message);
}
