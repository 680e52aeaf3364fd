// The FLUX autoencoder against the BFL reference goldens (golden/vae), for both checkpoint key layouts.
#define BOOST_TEST_MODULE vae_golden
#include <boost/test/unit_test.hpp>

#include <fstream>

#include "rounding_bound.hpp"
#include "vae_test_support.hpp"

namespace fs = std::filesystem;
using genplug::flux::Autoencoder;
using namespace genplug::test::vae;

namespace {

const std::vector<std::string> kLayouts = {"bfl", "diffusers"};

std::vector<int64_t> shape_of(const GoldenSet& set, const std::string& tensor) {
  return set.info.at("shapes").at(tensor).get<std::vector<int64_t>>();
}

void check_config(const Autoencoder& ae, const GoldenSet& set) {
  const auto expected = set.params();
  const auto& c = ae.config();
  BOOST_TEST(c.in_channels == expected.in_channels);
  BOOST_TEST(c.ch == expected.ch);
  BOOST_TEST(c.out_ch == expected.out_ch);
  BOOST_TEST(c.ch_mult == expected.ch_mult, boost::test_tools::per_element());
  BOOST_TEST(c.num_res_blocks == expected.num_res_blocks);
  BOOST_TEST(c.z_channels == expected.z_channels);
  BOOST_TEST(c.scale_factor == expected.scale_factor);
  BOOST_TEST(c.shift_factor == expected.shift_factor);
}

// The longest sum of the autoencoder on an image of h x w pixels: at level i (h / 2^i rows) a 3x3 convolution and a
// GroupNorm's statistics over one group, of that level's channels or a neighbour's (the encoder's input comes from
// the level above, the decoder's from the level below); the mid block's attention over the latent's pixels.
int64_t longest_reduction(const genplug::flux::AutoencoderConfig& c, int64_t h, int64_t w) {
  const std::vector<int64_t>& m = c.ch_mult;
  int64_t longest = (h >> (m.size() - 1)) * (w >> (m.size() - 1));
  for (size_t i = 0; i < m.size(); ++i) {
    const int64_t widest =
        c.ch * std::max({m[i], i > 0 ? m[i - 1] : m[i], i + 1 < m.size() ? m[i + 1] : m[i]});
    longest = std::max({longest, 9 * widest, widest / c.norm_groups * (h >> i) * (w >> i)});
  }
  return longest;
}

// decode, decoder_raw, encode and the raw moments of `ae` against the golden outputs, each within the rounding
// bound (rounding_bound.hpp) measured against the same weights in float64.
void check_outputs(const Autoencoder& ae, const GoldenSet& set, const std::string& what) {
  const auto z = read_tensor(set.io(), "decode.z");
  const auto x = read_tensor(set.io(), "encode.x");
  BOOST_TEST(z.sizes().vec() == shape_of(set, "decode.z"), boost::test_tools::per_element());
  BOOST_TEST(x.sizes().vec() == shape_of(set, "encode.x"), boost::test_tools::per_element());
  const auto exact = Autoencoder::from_checkpoint(set.weights("bfl"), torch::kDouble, torch::kCPU, ae.config());
  const int64_t longest = longest_reduction(ae.config(), x.size(2), x.size(3));
  const auto check = [&](const char* output, const torch::Tensor& ours, const torch::Tensor& ours64) {
    const genplug::test::RoundingBound b =
        genplug::test::rounding_bound(ours, ours64, read_tensor(set.io(), output), longest);
    BOOST_TEST_MESSAGE(set.stem << " " << what << ", " << output << ": " << b);
    BOOST_TEST(b.holds(), output << ": " << b);
  };

  const auto image = ae.decode_untiled(z);
  BOOST_TEST(image.sizes().vec() == shape_of(set, "decode.out"), boost::test_tools::per_element());
  check("decode.out", image, exact.decode_untiled(z));
  check("decoder_raw.out", ae.decode(z), exact.decode(z));

  const auto moments = ae.encode_moments(x);
  BOOST_TEST(moments.sizes().vec() == shape_of(set, "encode.raw_moments"), boost::test_tools::per_element());
  check("encode.raw_moments", moments, exact.encode_moments(x));
  const auto latent = ae.encode(x);
  BOOST_TEST(latent.sizes().vec() == shape_of(set, "encode.out"), boost::test_tools::per_element());
  check("encode.out", latent, exact.encode(x));
}

}  // namespace

BOOST_AUTO_TEST_CASE(golden_sets_present) {
  BOOST_TEST_REQUIRE(!golden_sets().empty(), "no *_info.json in " << genplug::test::golden("vae"));
}

BOOST_AUTO_TEST_CASE(both_layouts_match_the_reference) {
  for (const auto& set : golden_sets())
    for (const auto& layout : kLayouts) {
      BOOST_TEST_CONTEXT(set.stem << " " << layout) {
        const auto ae = Autoencoder::from_checkpoint(set.weights(layout), torch::kFloat, torch::kCPU, set.params());
        BOOST_TEST(ae.has_encoder());
        check_config(ae, set);
        check_outputs(ae, set, layout);
      }
    }
}

BOOST_AUTO_TEST_CASE(layouts_load_to_identical_parameters) {
  for (const auto& set : golden_sets()) {
    const auto bfl = Autoencoder::from_checkpoint(set.weights("bfl"), torch::kFloat).state_dict();
    const auto diffusers = Autoencoder::from_checkpoint(set.weights("diffusers"), torch::kFloat).state_dict();
    BOOST_TEST(bfl.size() == read_all(set.weights("bfl")).size());
    BOOST_TEST_REQUIRE(bfl.size() == diffusers.size());
    for (const auto& [name, tensor] : bfl) {
      BOOST_TEST_REQUIRE(diffusers.count(name) == 1, name);
      BOOST_TEST(torch::equal(tensor, diffusers.at(name)), name);
    }
  }
}

// A diffusers folder (weights + config.json): scale and shift come from the config.
BOOST_AUTO_TEST_CASE(diffusers_config_beside_the_weights_gives_the_factors) {
  for (const auto& set : golden_sets()) {
    const auto dir = scratch_dir("diffusers_" + set.stem);
    fs::copy_file(set.weights("diffusers"), dir / "diffusion_pytorch_model.safetensors");
    fs::copy_file(set.diffusers_config(), dir / "config.json");
    const auto config = genplug::test::read_json(set.diffusers_config());
    const auto ae = Autoencoder::from_checkpoint(dir / "diffusion_pytorch_model.safetensors");
    BOOST_TEST(ae.config().scale_factor == config.at("scaling_factor").get<double>());
    BOOST_TEST(ae.config().shift_factor == config.at("shift_factor").get<double>());
    check_outputs(ae, set, "diffusers folder");
    const auto from_folder = Autoencoder::from_checkpoint(dir);  // the folder itself, as in a diffusers repo's vae/
    BOOST_TEST(from_folder.config().shift_factor == config.at("shift_factor").get<double>());
    check_outputs(from_folder, set, "diffusers folder path");

    // A config.json that disagrees with the weights is an error naming the config file and the field.
    auto wrong = config;
    wrong["latent_channels"] = config.at("latent_channels").get<int>() + 1;
    std::ofstream(dir / "config.json") << wrong.dump();
    try {
      Autoencoder::from_checkpoint(dir / "diffusion_pytorch_model.safetensors");
      BOOST_ERROR("a mismatching config.json was accepted");
    } catch (const std::exception& e) {
      const std::string message = e.what();
      BOOST_TEST(message.find("config.json") != std::string::npos, message);
      BOOST_TEST(message.find("latent_channels") != std::string::npos, message);
    }
    fs::remove_all(dir);
  }
}

// norm_num_groups in a diffusers config.json sets the GroupNorm group count (the mini model uses 8; tensor
// shapes do not show it): honoured, and refused by file and field when it is not a whole divisor of the channels.
BOOST_AUTO_TEST_CASE(diffusers_config_gives_the_group_count) {
  for (const auto& set : golden_sets()) {
    const auto dir = scratch_dir("groups_" + set.stem);
    const auto weights = dir / "diffusion_pytorch_model.safetensors";
    fs::copy_file(set.weights("diffusers"), weights);
    auto config = genplug::test::read_json(set.diffusers_config());
    const int64_t golden = config.value("norm_num_groups", 32);  // BFL's fixed 32 unless the set says otherwise
    const int64_t other = golden == 8 ? 16 : 8;                    // divides any channel count the check allows
    const auto ae32 = Autoencoder::from_checkpoint(weights);
    BOOST_TEST(ae32.config().norm_groups == golden);
    config["norm_num_groups"] = other;
    std::ofstream(dir / "config.json") << config.dump();
    const auto ae8 = Autoencoder::from_checkpoint(weights);
    BOOST_TEST(ae8.config().norm_groups == other);
    // Same weights, other normalisation: the decode must move by far more than rounding.
    torch::manual_seed(0);
    const auto z = torch::randn({1, ae32.config().z_channels, 4, 4});
    const double moved = (ae8.decode(z) - ae32.decode(z)).abs().max().item<double>();
    BOOST_TEST(moved > 1e-2, "decode moved by " << moved);

    for (const std::string bad : {"0", "2.5", "\"8\"", "5", "-32"}) {
      std::ofstream(dir / "config.json") << R"({"_class_name": "AutoencoderKL", "norm_num_groups": )" << bad << "}";
      try {
        Autoencoder::from_checkpoint(weights);
        BOOST_ERROR("norm_num_groups " << bad << " was accepted");
      } catch (const std::exception& e) {
        const std::string message = e.what();
        const bool named = message.find("norm_num_groups") != std::string::npos ||
                           message.find("norm_groups") != std::string::npos;
        BOOST_TEST(named, message);
        BOOST_TEST(message.find("config.json") != std::string::npos, message);
      }
    }
    fs::remove_all(dir);
  }
}

// scaling_factor and shift_factor in config.json: a scale of 0 made every latent infinite (a render failed at its
// pixels, naming no file), a negative or huge one rendered another image with exit 0. Refused by file and field.
BOOST_AUTO_TEST_CASE(diffusers_config_factors_are_bounded) {
  for (const auto& set : golden_sets()) {
    const auto dir = scratch_dir("factors_" + set.stem);
    const auto weights = dir / "diffusion_pytorch_model.safetensors";
    fs::copy_file(set.weights("diffusers"), weights);
    const std::pair<const char*, const char*> cases[] = {
        {"scaling_factor", "0"}, {"scaling_factor", "-1"}, {"scaling_factor", "1e-320"}, {"scaling_factor", "1e300"},
        {"shift_factor", "1e308"}, {"shift_factor", "-1e7"}};
    for (const auto& [field, bad] : cases) {
      std::ofstream(dir / "config.json") << R"({"_class_name": "AutoencoderKL", ")" << field << "\": " << bad << "}";
      try {
        Autoencoder::from_checkpoint(weights);
        BOOST_ERROR(field << " " << bad << " was accepted");
      } catch (const std::exception& e) {
        const std::string message = e.what();
        BOOST_TEST(message.find((dir / "config.json").string() + ": field '" + field + "' must be a finite number") !=
                       std::string::npos,
                   message);
      }
    }
    std::ofstream(dir / "config.json") << R"({"_class_name": "AutoencoderKL", "scaling_factor": 0.5, "shift_factor": -2})";
    const auto ae = Autoencoder::from_checkpoint(weights);
    BOOST_TEST(ae.config().scale_factor == 0.5);
    BOOST_TEST(ae.config().shift_factor == -2.0);
    fs::remove_all(dir);
  }
}

// Single-file checkpoints keep the autoencoder under a prefix beside other models' tensors.
BOOST_AUTO_TEST_CASE(prefixed_keys_and_foreign_tensors) {
  for (const auto& set : golden_sets())
    for (const auto& layout : kLayouts)
      for (const std::string prefix : {"ae.", "vae.", "first_stage_model."}) {
        BOOST_TEST_CONTEXT(set.stem << " " << layout << " prefix " << prefix) {
          auto tensors = raw_tensors(set.weights(layout));
          for (auto& t : tensors) t.name = prefix + t.name;
          tensors.push_back(genplug::safetensors::TensorData::from_floats("model.diffusion_model.img_in.weight",
                                                                          {2, 2}, {1, 2, 3, 4}));
          const auto dir = scratch_dir("prefix");
          genplug::safetensors::write_file(dir / "combined.safetensors", tensors);
          const auto ae = Autoencoder::from_checkpoint(dir / "combined.safetensors", torch::kFloat, torch::kCPU,
                                                       set.params());
          check_config(ae, set);
          check_outputs(ae, set, layout + " prefixed " + prefix);
          fs::remove_all(dir);
        }
      }
}

// Decoder-only files (as some distributions ship) load; encode then says why it cannot run.
BOOST_AUTO_TEST_CASE(decoder_only_checkpoint) {
  for (const auto& set : golden_sets()) {
    auto tensors = raw_tensors(set.weights("bfl"));
    tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                                 [](const auto& t) { return t.name.rfind("encoder.", 0) == 0; }),
                  tensors.end());
    const auto dir = scratch_dir("decoder_only");
    genplug::safetensors::write_file(dir / "decoder.safetensors", tensors);
    const auto ae = Autoencoder::from_checkpoint(dir / "decoder.safetensors", torch::kFloat, torch::kCPU, set.params());
    BOOST_TEST(!ae.has_encoder());
    const auto z = read_tensor(set.io(), "decode.z"), expected = read_tensor(set.io(), "decode.out");
    const auto exact = Autoencoder::from_checkpoint(set.weights("bfl"), torch::kDouble, torch::kCPU, ae.config());
    const auto b = genplug::test::rounding_bound(ae.decode(z), exact.decode(z), expected,
                                                 longest_reduction(ae.config(), expected.size(2), expected.size(3)));
    BOOST_TEST(b.holds(), b);
    BOOST_CHECK_THROW(ae.encode(read_tensor(set.io(), "encode.x")), std::logic_error);
    fs::remove_all(dir);
  }
}

// In-memory tensors and weights in another storage dtype (f64 -> f32 at load).
BOOST_AUTO_TEST_CASE(from_tensors_and_dtype_conversion) {
  for (const auto& set : golden_sets()) {
    auto tensors = read_all(set.weights("diffusers"));
    for (auto& [name, t] : tensors) t = t.to(torch::kDouble);
    const auto ae = Autoencoder::from_tensors(tensors, "in-memory", torch::kFloat, torch::kCPU, set.params());
    BOOST_TEST((ae.dtype() == torch::kFloat));
    check_outputs(ae, set, "from_tensors f64 storage");
  }
}

// The mini model's trainer goes through the recording passes: same values as encode_moments / decode, a graph
// through every trainable parameter (which the public passes never build).
BOOST_AUTO_TEST_CASE(recording_passes_match_and_reach_every_parameter) {
  const auto ae = Autoencoder::random(genplug::flux::AutoencoderConfig::tiny(), 7);
  torch::manual_seed(7);
  const auto x = torch::rand({1, 3, 32, 32}) * 2 - 1;
  const auto moments = ae.encode_moments_recording(x);
  BOOST_TEST_REQUIRE(moments.requires_grad());
  BOOST_TEST(!ae.encode_moments(x).requires_grad());
  // Recording may pick another convolution kernel: equal up to float rounding.
  BOOST_TEST((moments.detach() - ae.encode_moments(x)).abs().max().item<double>() < 1e-5);
  const int64_t z = ae.config().z_channels;
  const auto latent = moments.narrow(1, 0, z);
  const auto image = ae.decode_unscaled_recording(latent);
  const auto& c = ae.config();
  const auto decoded = ae.decode_untiled((latent.detach() - c.shift_factor) * c.scale_factor);
  const double decode_difference = (image.detach() - decoded).abs().max().item<double>();
  BOOST_TEST(decode_difference < 1e-5);  // z / scale + shift undoes the scaling up to float rounding
  image.pow(2).mean().backward();
  const auto parameters = ae.trainable_parameters();
  BOOST_TEST(parameters.size() == ae.state_dict().size());
  for (const auto& p : parameters) BOOST_TEST(p.grad().defined());
}
