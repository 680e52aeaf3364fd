// Measures tiled vs untiled decode (max abs, PSNR, time) for docs/vae.md. Not a test: prints one JSON line per
// tiling setting. Weights: --checkpoint FILE (a real ae.safetensors) or random weights of --config tiny|flux.
//   vae_tiling_figures --config tiny --size 256 --tiles 16:8,16:4,24:8 --passes 0,1,2 [--device cuda] [--dtype bf16]
#include <chrono>
#include <iostream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <genplug/flux/autoencoder.hpp>

#include "vae_test_image.hpp"

using genplug::flux::Autoencoder;
using genplug::flux::AutoencoderConfig;
using genplug::flux::TiledDecode;
using genplug::test::vae::test_image;

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, sep);) out.push_back(item);
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point start, const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args = {{"config", "tiny"}, {"size", "256"}, {"tiles", "16:8"},
                                             {"passes", "0,1"},  {"device", "cpu"}, {"dtype", "f32"},
                                             {"seed", "11"},     {"checkpoint", ""}, {"latent", "encode"}};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = std::string(argv[i]).substr(2);
    if (!args.count(key)) {
      std::cerr << "unknown option " << argv[i] << "\n";
      return 2;
    }
    args[key] = argv[i + 1];
  }
  try {
    const torch::Device device(args["device"]);
    const auto dtype = args["dtype"] == "bf16" ? torch::kBFloat16 : args["dtype"] == "f16" ? torch::kHalf : torch::kFloat;
    const auto ae = args["checkpoint"].empty()
                        ? Autoencoder::random(args["config"] == "flux" ? AutoencoderConfig::flux() : AutoencoderConfig::tiny(),
                                              std::stoull(args["seed"]), dtype, device)
                        : Autoencoder::from_checkpoint(args["checkpoint"], dtype, device);
    const int64_t size = std::stoll(args["size"]);
    torch::Tensor z;
    if (args["latent"] == "encode") {
      z = ae.encode(test_image(ae.config().in_channels, size).to(device));
    } else {  // a random latent (N(0,1)), for models whose encoder is not meaningful
      torch::manual_seed(std::stoull(args["seed"]));
      const int64_t side = size / ae.config().downscale();
      z = torch::randn({1, ae.config().z_channels, side, side}).to(device);
    }
    if (device.is_cuda()) torch::cuda::synchronize();
    auto start = std::chrono::steady_clock::now();
    const auto untiled = ae.decode_untiled(z).to(torch::kDouble);
    const double untiled_s = seconds_since(start, device);
    for (const auto& tile_spec : split(args["tiles"], ','))
      for (const auto& passes : split(args["passes"], ',')) {
        const auto parts = split(tile_spec, ':');
        TiledDecode tiling;
        tiling.tile = std::stoll(parts.at(0));
        tiling.overlap = std::stoll(parts.at(1));
        tiling.sync_group_norm = std::stoll(passes) > 0;
        tiling.sync_passes = std::max<int64_t>(1, std::stoll(passes));
        start = std::chrono::steady_clock::now();
        const auto tiled = ae.decode_tiled(z, tiling).to(torch::kDouble);
        const double tiled_s = seconds_since(start, device);
        const auto diff = tiled - untiled;
        const double max_abs = diff.abs().max().item<double>();
        const double mse = diff.pow(2).mean().item<double>();
        nlohmann::json row = {{"config", args["checkpoint"].empty() ? args["config"] : args["checkpoint"]},
                              {"image", size},
                              {"latent", z.size(2)},
                              {"dtype", args["dtype"]},
                              {"device", args["device"]},
                              {"tile", tiling.tile},
                              {"overlap", tiling.overlap},
                              {"sync_passes", tiling.sync_group_norm ? tiling.sync_passes : 0},
                              {"max_abs", max_abs},
                              {"psnr_db", 10 * std::log10(4.0 / std::max(mse, 1e-300))},
                              {"untiled_range", {untiled.min().item<double>(), untiled.max().item<double>()}},
                              {"untiled_s", untiled_s},
                              {"tiled_s", tiled_s}};
        std::cout << row.dump() << std::endl;
      }
  } catch (const std::exception& e) {
    std::cerr << "vae_tiling_figures: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
