// flux_forward: times the FLUX transformer with random weights of any shape, attention alone, or a plain
// fp32 GEMM (the machine's bound). Prints one JSON object per run on stdout.
//
//   flux_forward                                   the bench config (defaults below)
//   flux_forward --attention-only --tokens 4096 --heads 24
//   flux_forward --gemm 2048
//   flux_forward --fma-peak 2                      the cores' multiply-add peak on 2 threads (the GEMM's roof)
//   flux_forward --rotary-only --img-tokens 65536   the rotary tables' rebuild against the forward it precedes
//   flux_forward --weight-dtype q8_0 --save-weights peer.gguf     a checkpoint of the random weights
//   flux_forward --weights peer.gguf               the forward of a checkpoint's transformer
//   flux_forward --preset flux-dev --dtype bf16 --device cuda --img-tokens 4096 --txt-tokens 512 \
//                --spectrum plain --spectrum dype.json        one model, one JSON line per spectrum (bench/gpu/run.sh)
#include <algorithm>
#include <cctype>
#include <charconv>
#include <random>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <dlfcn.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/types.h>
#include <torch/version.h>
#include <ATen/Parallel.h>
// Set by bench/flux_forward/CMakeLists.txt when libtorch has CUDA (its c10_cuda target): peak device memory from
// the CUDA caching allocator's statistics. Debian's CPU libtorch 1.13 compiles without it.
#if defined(GENPLUG_BENCH_HAVE_C10_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

#include <genplug/flux/attention.hpp>
#include <genplug/flux/presets.hpp>
#include <genplug/flux/ggml_block_tensors.hpp>
#include <genplug/flux/intra_op_threads.hpp>
#include <genplug/flux/openblas_core.hpp>
#include <genplug/flux/q8_0_tensors.hpp>
#include <genplug/flux/random_tensor.hpp>
#include <genplug/flux/transformer.hpp>
#include <genplug/flux/weights.hpp>
#include <genplug/gguf.hpp>

#include "fma_peak.hpp"
#include "ggml_block_packer.hpp"
#include <genplug/plugin.hpp>
#include <genplug/safetensors.hpp>

#include "blas_environment.hpp"

#include "flops.hpp"

using namespace genplug;
using nlohmann::json;

namespace {

struct Options {
  std::string preset;  // a named FLUX config (presets.hpp) instead of the shape flags
  int64_t hidden = 1024, heads = 8, double_blocks = 2, single_blocks = 4;
  std::string axes = "16,56,56";
  int64_t img_tokens = 1024, txt_tokens = 128;
  int64_t in_channels = 64, context = 4096, vec = 768;
  std::string dtype = "f32", device = "cpu";
  std::string weight_dtype;  // forward: the linear weights' dtype (empty: --dtype)
  std::string weights_file;  // forward: a checkpoint (safetensors or GGUF) instead of random weights
  std::string save_weights;  // forward: write the weights as a checkpoint (.gguf or .safetensors) and stop
  int repeat = 5, threads = 0;
  double warmup_s = 1.0;  // untimed runs until this long has passed (at least one)
  bool attention_only = false, rotary_only = false;
  bool device_weights = false;  // forward: draw the random weights on --device (see device_random_weights)
  int64_t tokens = 4096, head_dim = 128, gemm = 0;
  int fma_peak = 0;  // threads
  int64_t attention_budget_mb = flux::kDefaultAttentionBudgetBytes >> 20;
  int64_t token_run = flux::kDefaultTokenRun;  // forward: tokens per run of the blocks' per-token work (0: all)
  std::string attention_kernel = "auto";  // attention-only: auto (what the transformer takes) | blocked | chunked
  int64_t block_queries = 0, block_keys = 0;  // attention-only, blocked: this block instead of the budget's
  int attention_workers = 0;                   // attention-only, blocked: threads (0: OpenBLAS's pool size)
  uint64_t seed = 0;
  std::vector<std::string> spectra{"plain"};  // forward mode: "plain" or a `genplug posenc` JSON file, each timed
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// The kernel's peak RSS of this process (VmHWM), which reset_peak_rss() sets back to the current RSS; -1 where
// /proc says nothing.
double vm_hwm_mb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  return -1;
}
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// `text` as a whole decimal integer, or nothing: no sign but '-', no spaces, no trailing characters, no overflow
// (std::stoll took "12abc" as 12 and named only itself on "a").
std::optional<int64_t> whole_integer(const std::string& text) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, v);
  if (error != std::errc() || stop != end) return std::nullopt;
  return v;
}

std::vector<int64_t> parse_axes(const std::string& text) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    const std::optional<int64_t> dim = whole_integer(text.substr(start, comma - start));
    if (!dim || *dim < 1)
      throw std::invalid_argument("--axes: '" + text + "' is not a comma-separated list of positive integers");
    out.push_back(*dim);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// The most square grid with rows * cols == tokens (at least one row: 0 tokens would divide by zero).
std::pair<int64_t, int64_t> grid_for(int64_t tokens) {
  int64_t rows = std::max<int64_t>(1, int64_t(std::sqrt(double(tokens))));
  while (rows > 1 && tokens % rows) --rows;
  return {rows, tokens / rows};
}

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::empty({1}, torch::TensorOptions().device(d)).cpu();  // waits for the stream
}

// Peak memory of the CUDA caching allocator (tensor bytes allocated, and bytes the allocator reserved from the
// driver), since the last reset; null off CUDA or when this libtorch has no CUDA.
#if defined(GENPLUG_BENCH_HAVE_C10_CUDA)
c10::DeviceIndex cuda_index(const torch::Device& d) { return d.has_index() ? d.index() : c10::cuda::current_device(); }
#endif

void reset_cuda_peak(const torch::Device& d) {
#if defined(GENPLUG_BENCH_HAVE_C10_CUDA)
  if (d.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(cuda_index(d));
#else
  (void)d;
#endif
}

json cuda_memory(const torch::Device& d) {
#if defined(GENPLUG_BENCH_HAVE_C10_CUDA)
  if (d.is_cuda()) {
    // DeviceStats moved from c10::cuda::CUDACachingAllocator to c10::CachingDeviceAllocator in libtorch 2.x, and
    // StatType with it: `auto`, and index 0 (StatType::AGGREGATE, all pools, in every version).
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(cuda_index(d));
    constexpr size_t aggregate = 0;
    return {{"peak_allocated_bytes", stats.allocated_bytes[aggregate].peak},
            {"peak_reserved_bytes", stats.reserved_bytes[aggregate].peak},
            {"allocated_bytes", stats.allocated_bytes[aggregate].current},
            {"source", "c10::cuda::CUDACachingAllocator::getDeviceStats"}};
  }
#else
  (void)d;
#endif
  return nullptr;
}

// The libtorch this was compiled against (its headers' version).
std::string torch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

// Which attention kernel the transformer takes (attention.cpp): CUDA SDPA on libtorch >= 2, the fused kernel
// for float32 on the CPU, else chunked.
std::string attention_path(const torch::Device& d, torch::Dtype dtype) {
#if TORCH_VERSION_MAJOR >= 2
  if (d.is_cuda()) return "scaled_dot_product_attention";
#endif
  if (d.is_cpu() && dtype == torch::kFloat32)
    return std::string("fused (") + flux::attention_vector_isa() + ")";
  return "chunked";
}

struct Timing {
  double median_ms, min_ms, cpu_utilisation;  // process CPU time / wall time over the timed runs
};

// Runs fn untimed until `warmup_s` seconds have passed (at least once), then `repeat` timed times. One warm-up
// run was not enough for short kernels: some VMs run at about half speed for the first second of load (a 2048³
// GEMM took 90 ms, then 45 ms from about the tenth run on, on the 2026-12-04 EPYC; docs/performance.md).
template <class F>
Timing time_runs(int repeat, double warmup_s, const torch::Device& device, F&& fn) {
  const auto warmup_end = std::chrono::steady_clock::now() + std::chrono::duration<double>(warmup_s);
  do {
    fn();
    sync(device);
  } while (std::chrono::steady_clock::now() < warmup_end);
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

// OpenBLAS reads OPENBLAS_THREAD_TIMEOUT when it is loaded, before main here: unless the caller set it, set the
// genplug CLI's default and run this program again, so that the bench times what `genplug run` runs.
void run_with_the_clis_blas_defaults(char** argv) {
  if (std::getenv("OPENBLAS_THREAD_TIMEOUT") != nullptr) return;  // the caller's, or set before running again
  genplug::cli::set_blas_thread_defaults();
  if (std::getenv("OPENBLAS_THREAD_TIMEOUT") == nullptr) return;  // not set (no memory): OpenBLAS's default
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_THREAD_TIMEOUT");  // execv failed: this process runs under OpenBLAS's default, and says so
}

std::string openblas_thread_timeout() {
  const char* t = std::getenv("OPENBLAS_THREAD_TIMEOUT");
  return t != nullptr ? t : "default";
}

// Which malloc this process runs on: tcmalloc where the build linked it (bench/flux_forward/CMakeLists.txt, as the
// genplug CLI) or it was preloaded, else the C library's. Figures differ by it: glibc page-faults every large
// tensor afresh (docs/performance.md, "Memory allocator").
std::string allocator() { return dlsym(RTLD_DEFAULT, "tc_malloc") != nullptr ? "tcmalloc" : "libc"; }

// Whether this process switched OpenBLAS's kernels from the Prescott ones it took this CPU for (openblas_core.hpp).
bool blas_core_repaired = false;

json report(json config, const Timing& times, double flops) {
  config["openblas_thread_timeout"] = openblas_thread_timeout();
  config["blas_core"] = genplug::flux::openblas_core();
  config["blas_core_repaired"] = blas_core_repaired;
  config["allocator"] = allocator();
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
  auto times = time_runs(o.repeat, o.warmup_s, device, [&] { torch::mm(a, b); });
  json cfg = {{"mode", "gemm"}, {"n", o.gemm}, {"dtype", o.dtype}, {"device", o.device}, {"threads", at::get_num_threads()}};
  return report(cfg, times, 2.0 * double(o.gemm) * o.gemm * o.gemm);
}

// The multiply-add peak (fma_peak.hpp) on o.fma_peak threads, each round ~0.1 s of one thread at 100 GFLOP/s.
json run_fma_peak(const Options& o) {
  constexpr int64_t iterations = int64_t(1) << 25;
  auto times = time_runs(o.repeat, o.warmup_s, torch::kCPU, [&] { bench::fma_peak_run(o.fma_peak, iterations); });
  json cfg = {{"mode", "fma_peak"}, {"threads", o.fma_peak}, {"isa", bench::fma_peak_isa()}};
  return report(cfg, times, o.fma_peak * bench::fma_peak_flops(iterations));
}

json run_attention(const Options& o, torch::Dtype dtype, torch::Device device) {
  auto opts = torch::TensorOptions().dtype(dtype).device(device);
  torch::manual_seed(o.seed);
  torch::Tensor q = torch::randn({1, o.heads, o.tokens, o.head_dim}, opts);
  torch::Tensor k = torch::randn_like(q), v = torch::randn_like(q);
  const int64_t budget = o.attention_budget_mb << 20;
  flux::AttentionBlocks blocks = flux::attention_blocks(q, k, budget);
  if (o.block_queries > 0) blocks.queries = o.block_queries;
  if (o.block_keys > 0) blocks.keys = o.block_keys;
  blocks.workers = o.attention_workers;
  flux::FusedAttentionBlocks fused;
  if (o.block_queries > 0) fused.queries = o.block_queries;
  fused.workers = o.attention_workers;
  const flux::AttentionChunks chunks = flux::attention_chunks(q, k, budget);
  auto times = time_runs(o.repeat, o.warmup_s, device, [&] {
    if (o.attention_kernel == "blocked") flux::blocked_attention(q, k, v, blocks);
    else if (o.attention_kernel == "fused") flux::fused_attention(q, k, v, fused);
    else if (o.attention_kernel == "chunked") flux::chunked_attention(q, k, v, chunks);
    else flux::attention(q, k, v, budget);
  });
  json cfg = {{"mode", "attention"}, {"tokens", o.tokens}, {"heads", o.heads}, {"head_dim", o.head_dim},
              {"dtype", o.dtype}, {"device", o.device}, {"threads", at::get_num_threads()},
              {"attention_budget_mb", o.attention_budget_mb}, {"kernel", o.attention_kernel}};
  if (o.attention_kernel == "chunked") {
    cfg["chunk_heads"] = chunks.heads;
    cfg["chunk_queries"] = chunks.queries;
  } else if (o.attention_kernel == "blocked") {
    cfg["block_queries"] = blocks.queries;
    cfg["block_keys"] = blocks.keys;
    cfg["workers"] = flux::attention_workers(blocks.workers);
    cfg["softmax_isa"] = flux::attention_vector_isa();
  } else {  // fused, and auto on a float32 CPU
    cfg["block_queries"] = flux::fused_attention_query_block(o.tokens, o.tokens, o.head_dim, fused.queries);
    cfg["block_keys"] = flux::kFusedAttentionKeyTile;
    cfg["workers"] = flux::attention_workers(fused.workers);
    cfg["softmax_isa"] = flux::attention_vector_isa();
  }
  return report(cfg, times, bench::attention_flops(double(o.tokens), double(o.heads), double(o.head_dim)));
}

// The transformer's shapes from the command line, validated.
flux::FluxConfig bench_flux_config(const Options& o) {
  if (!o.preset.empty()) {
    flux::FluxConfig c = flux::flux_preset(o.preset);
    flux::validate_flux_config(c);
    return c;
  }
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

// A --spectrum file's text. A folder opens as a stream and fails only when read, with libstdc++'s
// "basic_filebuf::underflow error" and no path: checked first.
std::string read_spectrum_text(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw std::runtime_error("--spectrum " + path + ": not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("--spectrum " + path + ": cannot open it");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A spectrum as `genplug posenc` prints it ({"axes": [{"dim", "freqs", "mscale"}, ...]}: a posenc plugin's output,
// e.g. DyPE's dy-yarn at the target size), checked against the model's rotary axes.
flux::RotarySpectrum read_posenc_spectrum(const std::string& path, const flux::FluxConfig& c) {
  flux::RotarySpectrum s;
  try {  // nlohmann's errors (an empty file, a missing key) name no file
    const json j = json::parse(read_spectrum_text(path));
    for (const json& axis : j.at("axes")) {
      s.axes_dim.push_back(axis.at("dim").get<int64_t>());
      for (const json& f : axis.at("freqs")) s.freqs.push_back(f.get<double>());
      s.amplitude.push_back(axis.at("mscale").get<double>());
    }
  } catch (const json::exception& e) {
    throw std::runtime_error("--spectrum " + path + ": " + e.what());
  } catch (const std::ios_base::failure& e) {  // a read error, thrown through the stream buffer
    throw std::runtime_error("--spectrum " + path + ": " + e.what());
  }
  if (s.axes_dim != c.axes_dim || int64_t(s.freqs.size()) * 2 != c.head_dim())
    throw std::runtime_error("--spectrum " + path + ": its axes do not match the model's rotary axes");
  return s;
}

// max over frequencies and amplitudes of |spectrum / plain - 1|: 0 when the spectrum is plain RoPE (DyPE at the
// training size), > 0 when the tables it gives differ.
double relative_difference(const flux::RotarySpectrum& s, const flux::RotarySpectrum& plain) {
  double d = 0;
  for (size_t i = 0; i < s.freqs.size(); ++i) d = std::max(d, std::abs(s.freqs[i] / plain.freqs[i] - 1.0));
  for (size_t i = 0; i < s.amplitude.size(); ++i) d = std::max(d, std::abs(s.amplitude[i] / plain.amplitude[i] - 1.0));
  return d;
}

// Random weights with random_flux_weights's scales (random_flux_tensor), drawn where the model runs by that device's default generator
// (seeded by torch::manual_seed), in the model's dtype. random_flux_weights draws on the CPU from one generator, one
// thread, in float32: minutes for FLUX-dev's 11.9 B parameters, where this takes seconds on a GPU. Not the same
// values (compare_eager.sh needs random_flux_weights's); a forward's time does not depend on them.
flux::TensorMap device_random_weights(const flux::FluxConfig& c, uint64_t seed, torch::Dtype dtype,
                                      torch::Device device) {
  torch::manual_seed(seed);
  const auto opts = torch::TensorOptions().dtype(dtype).device(device);
  flux::TensorMap out;
  for (const auto& [name, shape] : flux::flux_weight_shapes(c)) out.emplace(name, flux::random_flux_tensor(name, shape, opts));
  return out;
}

// Matrices whose rows are whole Q8_0 blocks quantised to Q8_0 (what a GGUF Q8_0 checkpoint holds, ggml's rule),
// the rest as they are.
flux::TensorMap to_q8_0(const flux::TensorMap& weights) {
  flux::TensorMap out;
  for (const auto& [name, t] : weights) {
    if (t.dim() == 2 && t.size(1) % flux::kQ8BlockValues == 0)
      flux::put_q8_0(out, name, flux::quantize_q8_0(t));
    else
      out.emplace(name, t);
  }
  return out;
}

// The GGUF block type named `name` in lower case ("q4_k", "q5_0", ...; not q8_0, which to_q8_0 makes), if any.
std::optional<gguf::Type> ggml_block_type(const std::string& name) {
  for (gguf::Type t : test::quantised_types()) {
    std::string n = gguf::type_name(uint32_t(t));
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (n == name) return t;
  }
  return std::nullopt;
}

// Matrices whose rows are whole blocks of `type` as random blocks of it (ggml_block_packer.hpp), each within its
// random f32 weight's largest |value|: the values differ, the time and memory of a forward do not depend on them.
flux::TensorMap to_ggml_blocks(const flux::TensorMap& weights, gguf::Type type, uint64_t seed) {
  std::mt19937 rng{static_cast<uint32_t>(seed)};
  const int64_t values = gguf::block_layout(uint32_t(type))->values;
  flux::TensorMap out;
  for (const auto& [name, t] : weights) {
    if (t.dim() != 2 || t.size(1) % values) {
      out.emplace(name, t);
      continue;
    }
    const float max_abs = t.abs().max().item<float>();
    test::PackedBlocks p = test::random_blocks(type, int(t.numel() / values), rng, max_abs > 0 ? max_abs : 1.0f);
    torch::Tensor bytes = torch::empty({t.size(0), int64_t(p.bytes.size()) / t.size(0)}, torch::kUInt8);
    std::memcpy(bytes.data_ptr(), p.bytes.data(), p.bytes.size());
    flux::put_ggml_blocks(out, name, {bytes, type, t.size(1)});
  }
  return out;
}

bool ends_with(const std::string& name, const std::string& suffix) {
  return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A companion entry of a block weight (a Q8_0 scale, a GGUF type number): written with its weight.
bool is_companion(const std::string& name) {
  return ends_with(name, flux::q8_0_scale_name("")) || ends_with(name, flux::ggml_type_key(""));
}

// The weights as a checkpoint: ".gguf" (Q8_0 pairs as Q8_0, other GGUF blocks in their type, the rest F32) or
// safetensors (F32), BFL names.
json save_checkpoint(const flux::TensorMap& weights, const std::string& path) {
  auto floats = [](const torch::Tensor& t) {
    const torch::Tensor f = t.to(torch::kCPU, torch::kFloat32).contiguous();
    return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  };
  const bool gguf = path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
  if (gguf) {
    std::vector<gguf::TensorData> out;
    for (const auto& [name, t] : weights) {
      if (is_companion(name)) continue;
      if (const auto b = flux::find_q8_0(weights, name)) {
        out.push_back({name, gguf::Type::Q8_0, t.sizes().vec(), flux::q8_0_block_bytes(*b)});
      } else if (const auto g = flux::find_ggml_blocks(weights, name)) {
        const torch::Tensor bytes = g->bytes.contiguous();
        out.push_back({name, g->type, {bytes.size(0), g->cols},
                       std::vector<uint8_t>(bytes.data_ptr<uint8_t>(), bytes.data_ptr<uint8_t>() + bytes.numel())});
      } else {
        const std::vector<float> v = floats(t);
        std::vector<uint8_t> bytes(v.size() * 4);
        std::memcpy(bytes.data(), v.data(), bytes.size());
        out.push_back({name, gguf::Type::F32, t.sizes().vec(), std::move(bytes)});
      }
    }
    gguf::write_file(path, out, {{"general.architecture", "flux"}});
  } else {
    std::vector<safetensors::TensorData> out;
    for (const auto& [name, t] : weights) {
      if (is_companion(name)) continue;
      const auto b = flux::find_q8_0(weights, name);
      const auto g = flux::find_ggml_blocks(weights, name);
      const torch::Tensor f = b ? flux::dequantize_q8_0(*b) : g ? flux::dequantize_ggml_blocks(*g) : t;
      out.push_back(safetensors::TensorData::from_floats(name, f.sizes().vec(), floats(f)));
    }
    safetensors::write_file(path, out);
  }
  return {{"mode", "save"}, {"path", path}, {"bytes", std::filesystem::file_size(path)}};
}

// A checkpoint's transformer (its own config; rotary axes from `axes` when its head dim is not FLUX.1's 128) as
// `dtype`: safetensors or GGUF (Q8_0 kept 8-bit).
flux::FluxTransformerWeights load_checkpoint(const std::string& path, const std::vector<int64_t>& axes,
                                             torch::Dtype dtype, torch::Device device) {
  flux::FluxConfig config = flux::infer_flux_config(flux::bfl_transformer_shapes(flux::checkpoint_shapes(path), path), path);
  if (config.axes_dim.empty()) config.axes_dim = axes;
  return flux::load_flux_transformer(std::filesystem::path(path), config, dtype, device);
}

// Bytes of the weights as the model keeps them: int8 matrices 1 byte + a row scale; Q8_0 1 byte + an f16 per 32.
double kept_megabytes(const flux::TensorMap& weights, bool int8) {
  double bytes = 0;
  for (const auto& [name, t] : weights) {
    const bool quantised = int8 && t.dim() == 2 && t.is_floating_point();
    bytes += double(quantised ? t.numel() + 4 * t.size(0) : t.numel() * t.element_size());
  }
  return bytes / (1 << 20);
}

// One model and one set of inputs; each spectrum timed in turn (warm-up + repeat), one JSON object each.
std::vector<json> run_forward(const Options& o, torch::Dtype dtype, torch::Device device) {
  flux::FluxConfig c = bench_flux_config(o);
  // The weights as a checkpoint of --weight-dtype holds them; the model keeps its linear weights so and computes
  // in --dtype.
  // int8: the model quantises f32 weights per row as it loads them (layers/weights.hpp). q8_0: the matrices are
  // quantised to Q8_0 blocks first, which the model keeps as they are.
  const bool int8 = o.weight_dtype == "int8", q8_0 = o.weight_dtype == "q8_0";
  const std::optional<gguf::Type> blocks = ggml_block_type(o.weight_dtype);
  const torch::Dtype weight_dtype = int8                                          ? torch::kInt8
                                    : o.weight_dtype.empty() || q8_0 || blocks ? dtype
                                                                                  : flux::parse_dtype(o.weight_dtype);
  const torch::Dtype drawn_dtype = int8 || q8_0 || blocks ? torch::kFloat32 : weight_dtype;
  // GGUF block types are made from random weights, and decoded on the CPU (the plugin's loader re-blocks a file's
  // for other devices).
  if ((q8_0 || blocks) && !o.weights_file.empty())
    throw std::invalid_argument("--weight-dtype " + o.weight_dtype + " quantises random weights; a --weights file "
                                "keeps the types it has");
  if (blocks && !device.is_cpu())
    throw std::invalid_argument("--weight-dtype " + o.weight_dtype + " runs on the CPU only");
  double weight_mb = 0, kept_mb = 0;  // as drawn (or loaded); as the model keeps them
  std::optional<flux::FluxTransformer> model;
  {
    flux::TensorMap weights;
    if (!o.weights_file.empty()) {
      flux::FluxTransformerWeights w = load_checkpoint(o.weights_file, c.axes_dim, drawn_dtype, device);
      c = w.config;
      weights = std::move(w.tensors);
    } else {
      weights = o.device_weights ? device_random_weights(c, o.seed, drawn_dtype, device)
                                 : flux::random_flux_weights(c, o.seed, drawn_dtype, device);
    }
    for (const auto& [name, t] : weights) weight_mb += double(t.numel() * t.element_size()) / (1 << 20);
    if (q8_0) weights = to_q8_0(weights);
    if (blocks) weights = to_ggml_blocks(weights, *blocks, o.seed);
    kept_mb = kept_megabytes(weights, int8);
    if (!o.save_weights.empty()) return {save_checkpoint(weights, o.save_weights)};
    model.emplace(weights, c, dtype, device, weight_dtype);
  }
  model->set_attention_budget(o.attention_budget_mb << 20);
  model->set_token_run(o.token_run);
  // Drawing the weights (in f32 for int8) peaks above what the model then holds: the forward's own peak
  // (peak_rss_forward_mb) counts from here.
  reset_peak_rss();

  auto [rows, cols] = grid_for(o.img_tokens);
  torch::manual_seed(o.seed + 1);
  auto opts = torch::TensorOptions().dtype(dtype).device(device);
  torch::Tensor img = torch::randn({1, o.img_tokens, c.in_channels}, opts);
  torch::Tensor txt = torch::randn({1, o.txt_tokens, c.context_in_dim}, opts);
  torch::Tensor y = torch::randn({1, c.vec_in_dim}, opts);
  torch::Tensor t = torch::full({1}, 0.7), g = torch::full({1}, 3.5);
  const flux::RotarySpectrum plain = flux::plain_spectrum(c.axes_dim, c.theta);
  sync(device);
  const json weights_memory = cuda_memory(device);  // the weights and inputs, before any forward

  std::vector<json> out;
  for (const std::string& name : o.spectra) {
    const flux::RotarySpectrum spectrum = name == "plain" ? plain : read_posenc_spectrum(name, c);
    reset_cuda_peak(device);
    auto times = time_runs(o.repeat, o.warmup_s, device, [&] {
      // Tables are rebuilt every call, as the plugin does for a time-dependent spectrum.
      flux::RotaryTables pe = flux::rotary_tables(
          flux::flux_position_ids(o.txt_tokens, rows, cols, int64_t(c.axes_dim.size())), spectrum, device);
      model->forward(img, txt, t, y, g, pe);
    });
    json cfg = {{"mode", "forward"}, {"preset", o.preset.empty() ? json(nullptr) : json(o.preset)},
                {"hidden", c.hidden_size}, {"heads", c.num_heads}, {"double", c.depth},
                {"single", c.depth_single_blocks}, {"axes", c.axes_dim}, {"img_tokens", o.img_tokens},
                {"txt_tokens", o.txt_tokens}, {"grid", {rows, cols}}, {"in_channels", c.in_channels},
                {"context", c.context_in_dim}, {"vec", c.vec_in_dim}, {"guidance_embed", c.guidance_embed},
                {"dtype", o.dtype}, {"weight_dtype", o.weight_dtype.empty() ? o.dtype : o.weight_dtype},
                {"checkpoint_mb", weight_mb}, {"weights_kept_mb", kept_mb}, {"device", o.device},
                // inside the forward, which raises libtorch's count for bf16 products (intra_op_threads.hpp)
                {"threads", flux::IntraOpThreads::count_in_scope(model->raises_intra_op_threads())},
                {"parameters", flux::flux_parameter_count(c)}, {"attention_budget_mb", o.attention_budget_mb}, {"attention", attention_path(device, dtype)},
                {"token_run", o.token_run},
                {"spectrum", name}, {"spectrum_max_rel_diff_from_plain", relative_difference(spectrum, plain)},
                {"weights", !o.weights_file.empty() ? o.weights_file
                            : o.device_weights      ? "random, drawn on the device"
                                                    : "random_flux_weights"},
                {"repeat", o.repeat}, {"warmup_s", o.warmup_s}, {"torch_version", torch_version()}};
    json r = report(cfg, times, bench::flux_forward_flops(c, o.img_tokens, o.txt_tokens));
    json memory = cuda_memory(device);  // peak over the warm-up and the timed runs (weights included)
    if (!memory.is_null()) memory["weights_and_inputs_bytes"] = weights_memory.at("allocated_bytes");
    r["cuda_memory"] = memory;
    r["peak_rss_forward_mb"] = vm_hwm_mb();  // since the model was built: weights kept + the forward's peak
    out.push_back(r);
  }
  return out;
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
  const Timing tables = time_runs(o.repeat, o.warmup_s, device, [&] {
    flux::rotary_tables(flux::flux_position_ids(o.txt_tokens, rows, cols, int64_t(axes.size())), spectrum, device);
  });
  Options gemm = o;
  gemm.gemm = 1024;
  const json rate = run_gemm(gemm, torch::kFloat32, device);
  const double forward_gflop = bench::flux_forward_flops(c, o.img_tokens, o.txt_tokens) / 1e9;
  const double forward_ms_at_gemm_rate = forward_gflop / rate.at("gflops_per_s").get<double>() * 1e3;
  return {{"config", {{"mode", "rotary"}, {"img_tokens", o.img_tokens}, {"txt_tokens", o.txt_tokens},
                      {"grid", {rows, cols}}, {"axes", axes}, {"hidden", c.hidden_size}, {"heads", c.num_heads},
                      {"double", c.depth}, {"single", c.depth_single_blocks}, {"threads", at::get_num_threads()}}},
          {"tables_median_ms", tables.median_ms},
          {"tables_min_ms", tables.min_ms},
          {"gemm_gflops_per_s", rate.at("gflops_per_s")},
          {"forward_gflop", forward_gflop},
          {"forward_ms_at_gemm_rate", forward_ms_at_gemm_rate},
          {"tables_share_of_forward_at_most", tables.median_ms / forward_ms_at_gemm_rate}};
}

// An integer option's check: a whole decimal integer from `least` to `most`, rewritten as the number read, since
// CLI11's own conversion takes "010" as octal 8. A count of 0 divided by zero further on (grid_for,
// attention_chunks); a negative one aborted in libtorch or was ignored. CLI11 names the option in the message.
CLI::Validator integer_in(int64_t least, int64_t most = std::numeric_limits<int64_t>::max()) {
  const std::string range = most == std::numeric_limits<int64_t>::max()
                                ? ">= " + std::to_string(least)
                                : "from " + std::to_string(least) + " to " + std::to_string(most);
  return CLI::Validator(
      [least, most, range](std::string& text) -> std::string {
        const std::optional<int64_t> v = whole_integer(text);
        if (!v || *v < least || *v > most) return "'" + text + "' is not an integer " + range;
        text = std::to_string(*v);
        return {};
      },
      "INT " + range);
}

// --warmup-s: seconds from 0 to `most`. CLI::Range lets NaN through (it compares).
CLI::Validator seconds_up_to(double most) {
  return CLI::Validator(
      [most](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !(v >= 0 && v <= most))
          return "'" + text + "' is not a number of seconds from 0 to " + std::to_string(int64_t(most));
        return {};
      },
      "SECONDS");
}

// --seed: a whole unsigned integer; CLI11's conversion took "-1" as 2^64 - 1.
CLI::Validator unsigned_integer() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        uint64_t v = 0;
        const char* end = text.data() + text.size();
        const auto [stop, error] = std::from_chars(text.data(), end, v);
        if (error != std::errc() || stop != end) return "'" + text + "' is not an unsigned integer";
        text = std::to_string(v);
        return {};
      },
      "UINT");
}

// --axes: the list parse_axes reads, checked on the command line (a usage error, exit 2).
CLI::Validator axes_list() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          parse_axes(text);
        } catch (const std::invalid_argument&) {
          return "'" + text + "' is not a comma-separated list of positive integers";
        }
        return {};
      },
      "DIM,DIM,...");
}

// --spectrum: plain or a file (a folder or a missing path is a usage error before the model is built; the file's
// JSON is read once the model's axes are known).
CLI::Validator spectrum_source() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::error_code ec;
        if (text == "plain" || std::filesystem::is_regular_file(text, ec)) return {};
        return "'" + text + "' is neither plain nor a file";
      },
      "plain|FILE");
}

}  // namespace

int main(int argc, char** argv) {
  run_with_the_clis_blas_defaults(argv);
  blas_core_repaired = genplug::flux::repair_openblas_core().has_value();  // as the plugin does at create
  torch::NoGradGuard no_grad;  // inference, as the plugin's predict()
  Options o;
  CLI::App app{"Times the FLUX transformer (random weights), attention alone, or an fp32 GEMM"};
  app.add_option("--preset", o.preset,
                 "a named FLUX config (flux-dev, flux-schnell, mini, tiny) instead of --hidden ... --vec");
  app.add_option("--hidden", o.hidden, "hidden size")->capture_default_str()->transform(integer_in(1));
  app.add_option("--heads", o.heads, "attention heads")->capture_default_str()->transform(integer_in(1));
  app.add_option("--double", o.double_blocks, "double-stream blocks")->capture_default_str()->transform(integer_in(0));
  app.add_option("--single", o.single_blocks, "single-stream blocks")->capture_default_str()->transform(integer_in(0));
  app.add_option("--axes", o.axes, "rotary axes dims, comma separated (sum = hidden/heads)")
      ->capture_default_str()->check(axes_list());
  app.add_option("--img-tokens", o.img_tokens, "image tokens")->capture_default_str()->transform(integer_in(1));
  app.add_option("--txt-tokens", o.txt_tokens, "text tokens")->capture_default_str()->transform(integer_in(0));
  app.add_option("--in-channels", o.in_channels, "packed latent channels")->capture_default_str()->transform(integer_in(1));
  app.add_option("--context", o.context, "text context dim")->capture_default_str()->transform(integer_in(1));
  app.add_option("--vec", o.vec, "pooled vector dim")->capture_default_str()->transform(integer_in(1));
  app.add_option("--dtype", o.dtype, "f32, bf16 or f16")->capture_default_str();
  app.add_option("--weight-dtype", o.weight_dtype,
                 "forward: the linear layers' weights kept in f32, bf16, f16, int8 (quantised per row), q8_0 "
                 "(GGUF's blocks of 32) or another GGUF block type (q4_0, q4_1, q5_0, q5_1, q2_k ... q6_k: random "
                 "blocks within each weight's range) and widened to --dtype per layer (default: --dtype)");
  app.add_option("--weights", o.weights_file,
                 "forward: a FLUX transformer checkpoint (safetensors or GGUF; its shape replaces the shape flags but --axes "
                 "where its head dim is not 128) "
                 "instead of random weights")->check(CLI::ExistingFile);
  app.add_option("--save-weights", o.save_weights,
                 "forward: write the weights (after --weight-dtype q8_0 or another GGUF block type if given) to "
                 "FILE.gguf (block matrices in their type, F32 rest) or FILE.safetensors (F32), print its size, "
                 "and stop");
  app.add_option("--device", o.device, "cpu, cuda, cuda:N")->capture_default_str();
  app.add_option("--repeat", o.repeat, "timed runs (after the warm-up)")
      ->capture_default_str()->transform(integer_in(1, std::numeric_limits<int>::max()));
  app.add_option("--warmup-s", o.warmup_s,
                 "untimed warm-up runs until this many seconds have passed (at least one run)")
      ->capture_default_str()->check(seconds_up_to(600.0));
  app.add_option("--threads", o.threads,
                 "torch intra-op threads (0: libtorch's default, raised to the physical cores inside a bf16 or f16 "
                 "forward unless OMP_NUM_THREADS is set; the JSON's threads: the count inside the forward)")
      ->capture_default_str()->transform(integer_in(0, std::numeric_limits<int>::max()));
  app.add_option("--seed", o.seed, "weights and inputs seed")->capture_default_str()->transform(unsigned_integer());
  app.add_flag("--device-weights", o.device_weights,
               "forward: draw the random weights on --device in --dtype (fast for FLUX-dev; other values than the "
               "default CPU draw, which the eager comparison needs)");
  app.add_flag("--attention-only", o.attention_only, "time attention alone on random q, k, v");
  app.add_flag("--rotary-only", o.rotary_only,
               "time the rotary tables' rebuild at --img-tokens + --txt-tokens against the forward's FLOPs");
  app.add_option("--tokens", o.tokens, "attention-only: tokens")->capture_default_str()->transform(integer_in(1));
  app.add_option("--head-dim", o.head_dim, "attention-only: head dim")->capture_default_str()->transform(integer_in(1));
  app.add_option("--attention-kernel", o.attention_kernel, "attention-only: auto | fused | blocked | chunked")
      ->check(CLI::IsMember({"auto", "fused", "blocked", "chunked"}))
      ->capture_default_str();
  app.add_option("--block-queries", o.block_queries, "attention-only, fused and blocked kernels: query rows per block")
      ->transform(integer_in(1));
  app.add_option("--block-keys", o.block_keys, "attention-only, blocked kernel: keys per block")
      ->transform(integer_in(1));
  app.add_option("--attention-workers", o.attention_workers,
                 "attention-only, fused and blocked kernels: threads taking blocks in turn (default 0: OpenBLAS's "
                 "pool size)")
      ->transform(integer_in(0, std::numeric_limits<int>::max()));
  // At most what stays within int64 as bytes (<< 20).
  app.add_option("--attention-budget-mb", o.attention_budget_mb, "memory of one attention block's scores (CPU)")
      ->capture_default_str()->transform(integer_in(1, std::numeric_limits<int64_t>::max() >> 20));
  app.add_option("--token-run", o.token_run,
                 "forward: tokens per run of the blocks' per-token work (the MLPs; 0: every token at once)")
      ->capture_default_str()->transform(integer_in(0));
  app.add_option("--spectrum", o.spectra,
                 "forward: rotary spectrum, plain or a `genplug posenc` JSON file; repeat the option to time several "
                 "on the same model (one JSON line each)")->capture_default_str()->check(spectrum_source());
  // Given, at least 1: 0 (the default, no GEMM) or a negative N ran the forward instead.
  app.add_option("--gemm", o.gemm, "time an N x N x N torch::mm instead")->transform(integer_in(1));
  app.add_option("--fma-peak", o.fma_peak,
                 "time fp32 multiply-adds on registers on N threads instead: the cores' peak, the GEMM's roof")
      ->transform(integer_in(1, 256));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // A usage error exits 2, as the genplug CLI's (CLI11's own codes are 105 to 127); --help exits 0.
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    if (o.threads > 0) {
      at::set_num_threads(o.threads);
      // A count chosen here holds inside the forward too, which raises libtorch's for non-f32 products unless the
      // user chose one (genplug/flux/intra_op_threads.hpp). OpenBLAS read its own variables when it was loaded.
      setenv("OMP_NUM_THREADS", std::to_string(o.threads).c_str(), 1);
    }
    const torch::Dtype dtype = flux::parse_dtype(o.dtype);
    const torch::Device device = flux::parse_device(o.device);
    const std::vector<json> results = o.fma_peak > 0     ? std::vector<json>{run_fma_peak(o)}
                                      : o.gemm > 0         ? std::vector<json>{run_gemm(o, dtype, device)}
                                      : o.attention_only ? std::vector<json>{run_attention(o, dtype, device)}
                                      : o.rotary_only    ? std::vector<json>{run_rotary(o, device)}
                                                         : run_forward(o, dtype, device);
    for (const json& result : results) std::cout << result.dump() << std::endl;
  } catch (const c10::Error& e) {
    std::cerr << "flux_forward: " << e.what_without_backtrace() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "flux_forward: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
