// flux_forward: times the FLUX transformer with random weights of any shape, attention alone, or a plain
// fp32 GEMM (the machine's bound). Prints one JSON object per run on stdout.
//
//   flux_forward                                   the bench config (defaults below)
//   flux_forward --attention-only --tokens 4096 --heads 24
//   flux_forward --gemm 2048
//   flux_forward --rotary-only --img-tokens 65536   the rotary tables' rebuild against the forward it precedes
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/types.h>
#include <ATen/Parallel.h>

#include <genplug/flux/attention.hpp>
#include <genplug/flux/presets.hpp>
#include <genplug/flux/transformer.hpp>
#include <genplug/plugin.hpp>

#include "flops.hpp"

using namespace genplug;
using nlohmann::json;

namespace {

struct Options {
  int64_t hidden = 1024, heads = 8, double_blocks = 2, single_blocks = 4;
  std::string axes = "16,56,56";
  int64_t img_tokens = 1024, txt_tokens = 128;
  int64_t in_channels = 64, context = 4096, vec = 768;
  std::string dtype = "f32", device = "cpu";
  int repeat = 5, threads = 0;
  bool attention_only = false, rotary_only = false;
  int64_t tokens = 4096, head_dim = 128, gemm = 0;
  int64_t attention_budget_mb = flux::kDefaultAttentionBudgetBytes >> 20;
  uint64_t seed = 0;
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

std::vector<int64_t> parse_axes(const std::string& text) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    out.push_back(std::stoll(text.substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// The most square grid with rows * cols == tokens.
std::pair<int64_t, int64_t> grid_for(int64_t tokens) {
  int64_t rows = int64_t(std::sqrt(double(tokens)));
  while (rows > 1 && tokens % rows) --rows;
  return {rows, tokens / rows};
}

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::empty({1}, torch::TensorOptions().device(d)).cpu();  // waits for the stream
}

struct Timing {
  double median_ms, min_ms, cpu_utilisation;  // process CPU time / wall time over the timed runs
};

// Runs fn once to warm up, then `repeat` timed times.
template <class F>
Timing time_runs(int repeat, const torch::Device& device, F&& fn) {
  fn();
  sync(device);
  std::vector<double> ms;
  const double cpu0 = cpu_seconds();
  for (int i = 0; i < repeat; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    sync(device);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  const double cpu = cpu_seconds() - cpu0;
  double wall = 0;
  for (double m : ms) wall += m / 1e3;
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front(), cpu / wall};
}

json report(json config, const Timing& times, double flops) {
  return {{"config", config},
          {"median_ms", times.median_ms},
          {"min_ms", times.min_ms},
          {"cpu_utilisation", times.cpu_utilisation},
          {"peak_rss_mb", peak_rss_mb()},
          {"gflop", flops / 1e9},
          {"gflops_per_s", flops / 1e9 / (times.median_ms / 1e3)},
          // FLOPs per second of CPU time actually received: robust to other processes on the machine.
          {"gflops_per_cpu_s", flops / 1e9 / (times.median_ms / 1e3 * times.cpu_utilisation)}};
}

json run_gemm(const Options& o, torch::Dtype dtype, torch::Device device) {
  auto opts = torch::TensorOptions().dtype(dtype).device(device);
  torch::Tensor a = torch::randn({o.gemm, o.gemm}, opts), b = torch::randn({o.gemm, o.gemm}, opts);
  auto times = time_runs(o.repeat, device, [&] { torch::mm(a, b); });
  json cfg = {{"mode", "gemm"}, {"n", o.gemm}, {"dtype", o.dtype}, {"device", o.device}, {"threads", at::get_num_threads()}};
  return report(cfg, times, 2.0 * double(o.gemm) * o.gemm * o.gemm);
}

json run_attention(const Options& o, torch::Dtype dtype, torch::Device device) {
  auto opts = torch::TensorOptions().dtype(dtype).device(device);
  torch::manual_seed(o.seed);
  torch::Tensor q = torch::randn({1, o.heads, o.tokens, o.head_dim}, opts);
  torch::Tensor k = torch::randn_like(q), v = torch::randn_like(q);
  const int64_t budget = o.attention_budget_mb << 20;
  auto times = time_runs(o.repeat, device, [&] { flux::attention(q, k, v, budget); });
  const flux::AttentionChunks chunks = flux::attention_chunks(q, k, budget);
  json cfg = {{"mode", "attention"}, {"tokens", o.tokens}, {"heads", o.heads}, {"head_dim", o.head_dim},
              {"dtype", o.dtype}, {"device", o.device}, {"threads", at::get_num_threads()},
              {"attention_budget_mb", o.attention_budget_mb}, {"chunk_heads", chunks.heads},
              {"chunk_queries", chunks.queries}};
  return report(cfg, times, bench::attention_flops(double(o.tokens), double(o.heads), double(o.head_dim)));
}

// The transformer's shapes from the command line, validated.
flux::FluxConfig bench_flux_config(const Options& o) {
  flux::FluxConfig c;
  c.hidden_size = o.hidden;
  c.num_heads = o.heads;
  c.depth = o.double_blocks;
  c.depth_single_blocks = o.single_blocks;
  c.axes_dim = parse_axes(o.axes);
  c.in_channels = c.out_channels = o.in_channels;
  c.context_in_dim = o.context;
  c.vec_in_dim = o.vec;
  flux::validate_flux_config(c);
  return c;
}

json run_forward(const Options& o, torch::Dtype dtype, torch::Device device) {
  const flux::FluxConfig c = bench_flux_config(o);
  flux::FluxTransformer model(flux::random_flux_weights(c, o.seed, dtype, device), c, dtype, device);
  model.set_attention_budget(o.attention_budget_mb << 20);

  auto [rows, cols] = grid_for(o.img_tokens);
  torch::manual_seed(o.seed + 1);
  auto opts = torch::TensorOptions().dtype(dtype).device(device);
  torch::Tensor img = torch::randn({1, o.img_tokens, c.in_channels}, opts);
  torch::Tensor txt = torch::randn({1, o.txt_tokens, c.context_in_dim}, opts);
  torch::Tensor y = torch::randn({1, c.vec_in_dim}, opts);
  torch::Tensor t = torch::full({1}, 0.7), g = torch::full({1}, 3.5);
  flux::RotarySpectrum spectrum = flux::plain_spectrum(c.axes_dim, c.theta);
  auto times = time_runs(o.repeat, device, [&] {
    // Tables are rebuilt every call, as the plugin does for a time-dependent spectrum.
    flux::RotaryTables pe = flux::rotary_tables(
        flux::flux_position_ids(o.txt_tokens, rows, cols, int64_t(c.axes_dim.size())), spectrum, device);
    model.forward(img, txt, t, y, g, pe);
  });
  json cfg = {{"mode", "forward"}, {"hidden", o.hidden}, {"heads", o.heads}, {"double", o.double_blocks},
              {"single", o.single_blocks}, {"axes", c.axes_dim}, {"img_tokens", o.img_tokens},
              {"txt_tokens", o.txt_tokens}, {"grid", {rows, cols}}, {"in_channels", c.in_channels},
              {"context", c.context_in_dim}, {"vec", c.vec_in_dim}, {"dtype", o.dtype}, {"device", o.device},
              {"threads", at::get_num_threads()}, {"parameters", flux::flux_parameter_count(c)},
              {"attention_budget_mb", o.attention_budget_mb},
              {"repeat", o.repeat}};
  return report(cfg, times, bench::flux_forward_flops(c, o.img_tokens, o.txt_tokens));
}

// The cos/sin tables the plugin rebuilds before every evaluation (DyPE's spectrum changes with sigma), timed at
// the bench model's token count, against the least time the forward they precede can take: its counted FLOPs at
// the fp32 GEMM rate measured here (a 1024^3 product; the forward runs slower than that, so the share printed
// is an upper bound).
json run_rotary(const Options& o, torch::Device device) {
  const flux::FluxConfig c = bench_flux_config(o);
  const std::vector<int64_t>& axes = c.axes_dim;
  const auto [rows, cols] = grid_for(o.img_tokens);
  const flux::RotarySpectrum spectrum = flux::plain_spectrum(axes, c.theta);
  const Timing tables = time_runs(o.repeat, device, [&] {
    flux::rotary_tables(flux::flux_position_ids(o.txt_tokens, rows, cols, int64_t(axes.size())), spectrum, device);
  });
  Options gemm = o;
  gemm.gemm = 1024;
  const json rate = run_gemm(gemm, torch::kFloat32, device);
  const double forward_gflop = bench::flux_forward_flops(c, o.img_tokens, o.txt_tokens) / 1e9;
  const double forward_ms_at_gemm_rate = forward_gflop / rate.at("gflops_per_s").get<double>() * 1e3;
  return {{"config", {{"mode", "rotary"}, {"img_tokens", o.img_tokens}, {"txt_tokens", o.txt_tokens},
                      {"grid", {rows, cols}}, {"axes", axes}, {"hidden", o.hidden}, {"heads", o.heads},
                      {"double", o.double_blocks}, {"single", o.single_blocks}, {"threads", at::get_num_threads()}}},
          {"tables_median_ms", tables.median_ms},
          {"tables_min_ms", tables.min_ms},
          {"gemm_gflops_per_s", rate.at("gflops_per_s")},
          {"forward_gflop", forward_gflop},
          {"forward_ms_at_gemm_rate", forward_ms_at_gemm_rate},
          {"tables_share_of_forward_at_most", tables.median_ms / forward_ms_at_gemm_rate}};
}

}  // namespace

int main(int argc, char** argv) {
  torch::NoGradGuard no_grad;  // inference, as the plugin's predict()
  Options o;
  CLI::App app{"Times the FLUX transformer (random weights), attention alone, or an fp32 GEMM"};
  app.add_option("--hidden", o.hidden, "hidden size")->capture_default_str();
  app.add_option("--heads", o.heads, "attention heads")->capture_default_str();
  app.add_option("--double", o.double_blocks, "double-stream blocks")->capture_default_str();
  app.add_option("--single", o.single_blocks, "single-stream blocks")->capture_default_str();
  app.add_option("--axes", o.axes, "rotary axes dims, comma separated (sum = hidden/heads)")->capture_default_str();
  app.add_option("--img-tokens", o.img_tokens, "image tokens")->capture_default_str();
  app.add_option("--txt-tokens", o.txt_tokens, "text tokens")->capture_default_str();
  app.add_option("--in-channels", o.in_channels, "packed latent channels")->capture_default_str();
  app.add_option("--context", o.context, "text context dim")->capture_default_str();
  app.add_option("--vec", o.vec, "pooled vector dim")->capture_default_str();
  app.add_option("--dtype", o.dtype, "f32, bf16 or f16")->capture_default_str();
  app.add_option("--device", o.device, "cpu, cuda, cuda:N")->capture_default_str();
  app.add_option("--repeat", o.repeat, "timed runs (after one warm-up)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--threads", o.threads, "torch intra-op threads (0: libtorch default)")->capture_default_str();
  app.add_option("--seed", o.seed, "weights and inputs seed")->capture_default_str();
  app.add_flag("--attention-only", o.attention_only, "time attention alone on random q, k, v");
  app.add_flag("--rotary-only", o.rotary_only,
               "time the rotary tables' rebuild at --img-tokens + --txt-tokens against the forward's FLOPs");
  app.add_option("--tokens", o.tokens, "attention-only: tokens")->capture_default_str();
  app.add_option("--head-dim", o.head_dim, "attention-only: head dim")->capture_default_str();
  app.add_option("--attention-budget-mb", o.attention_budget_mb, "memory of one attention chunk (libtorch < 2)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--gemm", o.gemm, "time an N x N x N torch::mm instead")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    if (o.threads > 0) at::set_num_threads(o.threads);
    const torch::Dtype dtype = flux::parse_dtype(o.dtype);
    const torch::Device device = flux::parse_device(o.device);
    json result = o.gemm > 0            ? run_gemm(o, dtype, device)
                  : o.attention_only    ? run_attention(o, dtype, device)
                  : o.rotary_only       ? run_rotary(o, device)
                                        : run_forward(o, dtype, device);
    std::cout << result.dump() << std::endl;
  } catch (const c10::Error& e) {
    std::cerr << "flux_forward: " << e.what_without_backtrace() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "flux_forward: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
