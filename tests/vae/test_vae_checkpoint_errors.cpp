// Bad autoencoder checkpoints: every failure is an exception whose message names the file and the tensor.
#define BOOST_TEST_MODULE vae_checkpoint_errors
#include <boost/test/unit_test.hpp>

#include <fstream>

#include "vae_test_support.hpp"

namespace fs = std::filesystem;
using genplug::flux::Autoencoder;
using genplug::safetensors::TensorData;
using namespace genplug::test::vae;

namespace {

const std::vector<std::string> kLayouts = {"bfl", "diffusers"};

// Loads `tensors` written to a scratch file; expects an exception mentioning the file and every `needle`.
void expect_error(const std::vector<TensorData>& tensors, const std::vector<std::string>& needles) {
  const auto dir = scratch_dir("errors");
  const auto file = dir / "broken_vae.safetensors";
  genplug::safetensors::write_file(file, tensors);
  try {
    Autoencoder::from_checkpoint(file);
    BOOST_ERROR("loading succeeded; expected an error naming " << needles.front());
  } catch (const std::exception& e) {
    const std::string message = e.what();
    BOOST_TEST_MESSAGE("error: " << message);
    BOOST_TEST(message.find(file.string()) != std::string::npos, "file not named in: " << message);
    for (const auto& needle : needles)
      BOOST_TEST(message.find(needle) != std::string::npos, "'" << needle << "' not named in: " << message);
  }
  fs::remove_all(dir);
}

std::vector<TensorData> without(std::vector<TensorData> tensors, const std::string& name) {
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(), [&](const auto& t) { return t.name == name; }),
                tensors.end());
  return tensors;
}

// Names to break in a file: its first encoder tensor, a decoder attention weight, the decoder's conv_out
// (needed for config inference) and one 3x3 conv of the decoder's resnet blocks.
std::vector<std::string> victims(const std::vector<TensorData>& tensors) {
  std::vector<std::string> names;
  auto first = [&](auto predicate) {
    for (const auto& t : tensors)
      if (predicate(t.name)) return names.push_back(t.name);
    BOOST_ERROR("golden weights lack an expected kind of tensor");
  };
  auto has = [](const std::string& s, const char* part) { return s.find(part) != std::string::npos; };
  first([&](const std::string& n) { return n.rfind("encoder.", 0) == 0; });
  first([&](const std::string& n) { return has(n, "decoder.mid") && (has(n, ".q.weight") || has(n, "to_q.weight")); });
  first([&](const std::string& n) { return n == "decoder.conv_out.weight"; });
  first([&](const std::string& n) { return n.rfind("decoder.up", 0) == 0 && has(n, "conv2.weight"); });
  return names;
}

}  // namespace

BOOST_AUTO_TEST_CASE(missing_tensor_is_named) {
  for (const auto& set : golden_sets())
    for (const auto& layout : kLayouts) {
      const auto tensors = raw_tensors(set.weights(layout));
      for (const auto& name : victims(tensors))
        BOOST_TEST_CONTEXT(layout << " without " << name) { expect_error(without(tensors, name), {"missing", name}); }
    }
}

BOOST_AUTO_TEST_CASE(wrong_shape_is_named) {
  for (const auto& set : golden_sets())
    for (const auto& layout : kLayouts) {
      const auto tensors = raw_tensors(set.weights(layout));
      for (const auto& name : victims(tensors)) {
        if (name == "decoder.conv_out.weight") continue;  // its shape defines ch/out_ch: other tensors then mismatch
        BOOST_TEST_CONTEXT(layout << " reshaped " << name) {
          auto broken = tensors;
          for (auto& t : broken)
            if (t.name == name) {  // one more output channel: same layout, wrong shape
              const int64_t row = t.bytes.size() / t.shape[0];
              t.bytes.resize(t.bytes.size() + row);
              t.shape[0] += 1;
            }
          expect_error(broken, {name, "shape"});
        }
      }
    }
}

BOOST_AUTO_TEST_CASE(non_float_tensor_is_named) {
  for (const auto& set : golden_sets()) {
    auto tensors = raw_tensors(set.weights("bfl"));
    const std::string name = victims(tensors).back();
    for (auto& t : tensors)
      if (t.name == name) t.dtype = genplug::safetensors::DType::I32;  // same byte size as F32
    expect_error(tensors, {name, "I32"});
  }
}

BOOST_AUTO_TEST_CASE(unexpected_tensors_are_named) {
  for (const auto& set : golden_sets())
    for (const auto& layout : kLayouts) {
      auto tensors = raw_tensors(set.weights(layout));
      tensors.push_back(TensorData::from_floats("post_quant_conv.bias", {1}, {0.5f}));
      expect_error(tensors, {"post_quant_conv.bias"});
      tensors.pop_back();
      tensors.push_back(TensorData::from_floats("decoder.extra_block.weight", {1}, {0.5f}));
      expect_error(tensors, {"decoder.extra_block.weight"});
    }
}

BOOST_AUTO_TEST_CASE(file_without_an_autoencoder) {
  expect_error({TensorData::from_floats("double_blocks.0.img_attn.qkv.weight", {2}, {1, 2})},
               {"no autoencoder", "decoder.conv_in.weight"});
}

BOOST_AUTO_TEST_CASE(truncated_file_names_the_file) {
  for (const auto& set : golden_sets()) {
    const auto dir = scratch_dir("truncated");
    const auto file = dir / "truncated.safetensors";
    fs::copy_file(set.weights("bfl"), file);
    fs::resize_file(file, fs::file_size(file) - 100);
    try {
      Autoencoder::from_checkpoint(file);
      BOOST_ERROR("a truncated file loaded");
    } catch (const std::exception& e) {
      BOOST_TEST(std::string(e.what()).find(file.string()) != std::string::npos, e.what());
    }
    fs::remove_all(dir);
  }
}

// Hostile input: a config.json beside the weights nested 100 000 deep is refused by name, not a stack overflow.
BOOST_AUTO_TEST_CASE(deeply_nested_config_beside_the_weights_is_refused) {
  for (const auto& set : golden_sets()) {
    const auto dir = scratch_dir("deep_config");
    fs::copy_file(set.weights("diffusers"), dir / "diffusion_pytorch_model.safetensors");
    std::ofstream(dir / "config.json") << R"({"_class_name": "AutoencoderKL", "x": )" << std::string(100000, '[')
                                       << std::string(100000, ']') << "}";
    try {
      Autoencoder::from_checkpoint(dir / "diffusion_pytorch_model.safetensors");
      BOOST_ERROR("a config.json nested 100 000 deep was accepted");
    } catch (const std::exception& e) {
      const std::string message = e.what();
      BOOST_TEST(message.find((dir / "config.json").string()) != std::string::npos, message);
      BOOST_TEST(message.find("nested deeper than 64 levels") != std::string::npos, message);
    }
    fs::remove_all(dir);
  }
}

BOOST_AUTO_TEST_CASE(bad_inputs_are_rejected) {
  for (const auto& set : golden_sets()) {
    const auto ae = Autoencoder::from_checkpoint(set.weights("bfl"), torch::kFloat, torch::kCPU, set.params());
    const int64_t z = ae.config().z_channels;
    BOOST_CHECK_THROW(ae.decode(torch::zeros({1, z + 1, 4, 4})), std::invalid_argument);
    BOOST_CHECK_THROW(ae.decode(torch::zeros({z, 4, 4})), std::invalid_argument);
    BOOST_CHECK_THROW(ae.encode(torch::zeros({1, ae.config().in_channels + 1, 8, 8})), std::invalid_argument);
    genplug::flux::TiledDecode bad;
    bad.tile = 4;
    bad.overlap = 4;
    BOOST_CHECK_THROW(ae.decode_tiled(torch::zeros({1, z, 8, 8}), bad), std::invalid_argument);
  }
}
