// bench_lora: the two ways to apply a LoRA, measured on FLUX block shapes (docs/lora.md):
//   merge:    W' = W + s B A once per swap (what org.genplug.flux does), then every step runs the plain layer;
//   run time: y = x W^T + s (x A^T) B^T at every evaluation, no merge.
// Prints JSON: the merge time of one double + one single block, the per-evaluation cost of the run-time branch
// for the same block at `tokens` tokens, and the number of evaluations after which merging is cheaper.
#include <chrono>
#include <iostream>
#include <limits>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/types.h>
#include <torch/utils.h>

namespace {

double seconds_of(const std::function<void()>& f, int repeats) {
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

// Sizes of at least 1 (a negative one aborted in libtorch) and at most 2^40: more fits no memory, and 7 x hidden
// stays far from int64's end.
const CLI::Range kSize{int64_t(1), int64_t(1) << 40};

// The JSON the file's head describes.
nlohmann::json measure(int64_t hidden, int64_t rank, int64_t tokens, int repeats) {
  torch::NoGradGuard no_grad;
  const int64_t H = hidden;
  // Token-wise linears of one double block (image and text streams share the count here) and one single block;
  // the modulation layers act on one vector per image and are left out of the per-token cost.
  const std::vector<std::pair<int64_t, int64_t>> linears = {{3 * H, H}, {H, H}, {4 * H, H}, {H, 4 * H},  // img
                                                            {3 * H, H}, {H, H}, {4 * H, H}, {H, 4 * H},  // txt
                                                            {7 * H, H}, {H, 5 * H}};                     // single
  double merge = 0, plain = 0, branch = 0;
  for (const auto& [out, in] : linears) {
    const torch::Tensor w = torch::randn({out, in}) * 0.02, a = torch::randn({rank, in}) * 0.02,
                        b = torch::randn({out, rank}) * 0.02, x = torch::randn({tokens, in});
    merge += seconds_of([&] { torch::Tensor m = w.clone(); m.addmm_(b, a, 1.0, 0.5); }, repeats);
    plain += seconds_of([&] { torch::Tensor y = torch::matmul(x, w.t()); }, repeats);
    branch += seconds_of([&] { torch::Tensor y = torch::matmul(torch::matmul(x, a.t()), b.t()); }, repeats);
  }
  return {{"hidden", hidden}, {"rank", rank}, {"tokens", tokens},
          {"merge_seconds_per_block_pair", merge},
          {"plain_linears_seconds_per_evaluation", plain},
          {"runtime_branch_seconds_per_evaluation", branch},
          {"runtime_overhead_ratio", branch / plain},
          {"evaluations_to_amortise_merge", merge / branch}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"LoRA merge vs run-time application on FLUX block shapes"};
  int64_t hidden = 3072, rank = 16, tokens = 4608;
  int repeats = 3;
  app.add_option("--hidden", hidden, "hidden size (FLUX.1: 3072)")->capture_default_str()->check(kSize);
  app.add_option("--rank", rank, "LoRA rank")->capture_default_str()->check(kSize);
  app.add_option("--tokens", tokens, "image + text tokens of one evaluation (1024 px: 4096 + 512)")
      ->capture_default_str()->check(kSize);
  // At least 1: --repeats 0 left the minimum's 1e30 s start in the JSON.
  app.add_option("--repeats", repeats, "best of N")->capture_default_str()
      ->check(CLI::Range(1, std::numeric_limits<int>::max()));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // a usage error exits 2 (CLI11's own codes are 105 to 127); --help 0
  }
  try {  // sizes too large for memory: libtorch's error, not an abort
    std::cout << measure(hidden, rank, tokens, repeats).dump(2) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "bench_lora: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
