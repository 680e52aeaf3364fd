#include <genplug/flux/lora.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include <genplug/flux/ggml_block_tensors.hpp>
#include <genplug/flux/lora_metadata.hpp>
#include <genplug/flux/q8_0_tensors.hpp>
#include <genplug/flux/weights.hpp>
#include <genplug/safetensors.hpp>
#include <genplug/internal/bounded_json.hpp>

namespace genplug::flux {
namespace {

std::vector<int64_t> shape_of(const torch::Tensor& t) { return t.sizes().vec(); }

// The shape of the weight `name` of `base`: GGUF blocks (ggml_blocks_layout.hpp) stand for [rows, values a row].
std::vector<int64_t> weight_shape(const TensorMap& base, const std::string& name) {
  if (const auto blocks = find_ggml_blocks(base, name)) return {blocks->bytes.size(0), blocks->cols};
  return shape_of(base.at(name));
}

// One module of one file, checked against its target.
struct Planned {
  const safetensors::Checkpoint* file;
  LoraModule module;
  double factor;  // scale * alpha / rank
};

// The module's alpha: its .alpha tensor, else the file's PEFT metadata, else the rank (scale 1).
double alpha_of(const LoraModule& m, const safetensors::Checkpoint& file, int64_t rank) {
  if (!m.alpha.empty()) return load_tensor(file.at(m.alpha), torch::kFloat64, torch::kCPU).reshape({-1})[0].item<double>();
  return metadata_alpha(file, m.module).value_or(static_cast<double>(rank));
}

// A factor's parts as printf's %g writes them ("1e+300", "nan").
std::string g_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Whether every value of `t` lies in [-limit, limit] (a NaN does not), a few million values at a time: abs() and
// the comparison of a whole weight would materialise several bytes a value besides it (what check_loras does not
// count).
bool all_within(const torch::Tensor& t, double limit) {
  if (t.numel() == 0) return true;
  if (t.dim() == 0) return t.abs().max().item<double>() <= limit;
  const int64_t rows = t.size(0), per_row = std::max<int64_t>(t.numel() / rows, 1);
  const int64_t step = std::max<int64_t>((int64_t(1) << 22) / per_row, 1);
  for (int64_t r = 0; r < rows; r += step)
    if (!(t.slice(0, r, std::min(rows, r + step)).abs().max().item<double>() <= limit)) return false;
  return true;
}

// Whether every value of `t` is finite: an infinity exceeds the largest double, and a NaN compares false.
bool all_finite(const torch::Tensor& t) { return all_within(t, std::numeric_limits<double>::max()); }

// The largest |value| a Q8_0 block holds: ggml stores its scale d = max|x| / 127 as float16, at most 65504.
constexpr double kQ8_0Largest = 65504.0 * 127.0;

// Adds factor * up @ down to the module's rows of `w` (float32), in one GEMM pass per row range: the delta is
// never materialised. Where the file orders the rows' halves the other way (diffusers norm_out), each half of
// `up` goes to the other half of the rows.
// A NaN or infinity in a factor would make every image NaN, then blamed on the model's predict: the file's fault,
// named here with the tensor.
torch::Tensor finite_factor(const Planned& p, const std::string& name, torch::Device device) {
  torch::Tensor t = load_tensor(p.file->at(name), torch::kFloat32, device);
  if (!all_finite(t))
    throw WeightError(p.file->path().string() + ": LoRA module '" + p.module.module + "': '" + name +
                      "' holds NaN or infinite values");
  return t;
}

void add_delta(torch::Tensor& w, const Planned& p) {
  const torch::Tensor down = finite_factor(p, p.module.down, w.device());
  const torch::Tensor up = finite_factor(p, p.module.up, w.device());
  const auto [first, rows] = lora_rows(p.module, shape_of(w));
  if (!p.module.swap_halves) {
    w.slice(0, first, first + rows).addmm_(up, down, 1.0, p.factor);
    return;
  }
  const int64_t half = rows / 2;
  w.slice(0, first, first + half).addmm_(up.slice(0, half), down, 1.0, p.factor);
  w.slice(0, first + half, first + rows).addmm_(up.slice(0, 0, half), down, 1.0, p.factor);
}

// Why the merged weight `name` is not finite: its base already was (the transformer checkpoint's fault), or the
// deltas of these files overflow its dtype. `base_finite`: GGUF blocks' decoded values, checked before the deltas
// (a block's float16 scale can itself be NaN or infinite); other weights' are `base` itself.
[[noreturn]] void throw_not_finite(const std::string& name, const torch::Tensor& base, bool blocks, bool base_finite,
                                   const std::vector<Planned>& planned) {
  if (blocks ? !base_finite : !all_finite(base))
    throw WeightError("the transformer's '" + name + "' holds NaN or infinite values before any LoRA is added" +
                      (blocks ? std::string(" (a GGUF block's scale)") : std::string()));
  std::string files;
  for (const Planned& p : planned) files += (files.empty() ? "" : ", ") + p.file->path().string();
  const torch::ScalarType type = base.scalar_type();
  const char* dtype = blocks                        ? "Q8_0 (its float16 block scale holds |w| up to 65504 x 127)"
                      : type == torch::kFloat16  ? "float16"
                      : type == torch::kBFloat16 ? "bfloat16"
                                                 : "float32";
  throw WeightError("'" + name + "' overflows " + dtype + " with the LoRA deltas of " + files + " added");
}

std::string note_of(const LoraPlan& plan, const std::string& source) {
  std::string note;
  if (!plan.text_encoder.empty())
    note += std::to_string(plan.text_encoder.size()) + " text-encoder tensors ignored (only the transformer is adapted)";
  if (!plan.unknown.empty()) {
    note += std::string(note.empty() ? "" : "; ") + std::to_string(plan.unknown.size()) + " unknown tensors ignored:";
    for (size_t i = 0; i < plan.unknown.size() && i < 8; ++i) note += " '" + plan.unknown[i] + "'";
    if (plan.unknown.size() > 8) note += " ... (genplug inspect lists them all)";
  }
  return note.empty() ? "" : source + ": " + note;
}

// Every file opened and every module checked against its target, before any weight is copied.
struct MergePlan {
  std::vector<std::unique_ptr<safetensors::Checkpoint>> files;
  std::map<std::string, std::vector<Planned>> by_target;  // each target's modules, of every file
  std::vector<std::string> notes;
};

// "<dev>:<ino>" of what `path` names, "" when it cannot be read.
std::string inode_of(const std::filesystem::path& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

// What a list entry reads, as Checkpoint opens it: a folder, a safetensors file (its inode: another spelling, a
// symbolic or hard link name the same), or an index file with the shards of the folder the path is written in (a
// link to an index from another folder reads that folder's shards). The path itself when it cannot be read, for
// Checkpoint to say why.
std::string identity_of(const std::filesystem::path& path) {
  const std::string inode = inode_of(path);
  if (inode.empty()) return "path " + path.string();
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return "folder " + inode;
  if (!safetensors::Checkpoint::names_an_index(path)) return "file " + inode;
  const std::filesystem::path folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  return "index " + inode + " in " + inode_of(folder);
}

// The list with each file once, at its first place, its scales added: s_1 B A + s_2 B A = (s_1 + s_2) B A. A file
// listed 300 times had been mapped and parsed 300 times (12 GB for a 40 MB LoRA). `notes` gets one line per file
// listed more than once, with the other spellings it was listed under.
std::vector<LoraFile> each_file_once(const std::vector<LoraFile>& loras, std::vector<std::string>& notes) {
  struct Entry {
    LoraFile file;
    std::vector<std::string> scales, other_names;
  };
  std::vector<Entry> entries;
  std::map<std::string, size_t> index;
  for (const LoraFile& lora : loras) {
    const auto [it, first] = index.emplace(identity_of(lora.path), entries.size());
    if (first) {
      entries.push_back({lora, {g_text(lora.scale)}, {}});
      continue;
    }
    Entry& e = entries[it->second];
    e.file.scale += lora.scale;
    e.scales.push_back(g_text(lora.scale));
    const std::string name = lora.path.string();
    const auto& others = e.other_names;
    if (name != e.file.path.string() && std::find(others.begin(), others.end(), name) == others.end())
      e.other_names.push_back(name);
  }
  std::vector<LoraFile> out;
  for (const Entry& e : entries) {
    out.push_back(e.file);
    if (e.scales.size() == 1) continue;
    std::string as, sum;
    for (size_t i = 0; i < e.other_names.size() && i < 3; ++i) as += (i ? ", " : " (also as ") + e.other_names[i];
    if (e.other_names.size() > 3) as += " and " + std::to_string(e.other_names.size() - 3) + " more";
    if (!as.empty()) as += ")";
    for (size_t i = 0; i < e.scales.size() && e.scales.size() <= 8; ++i) sum += (i ? " + " : "") + e.scales[i];
    notes.push_back(e.file.path.string() + ": listed " + std::to_string(e.scales.size()) + " times" + as +
                    ", merged once at scale " + (sum.empty() ? "" : sum + " = ") + g_text(e.file.scale));
  }
  return out;
}

MergePlan plan_merge(const ShapeMap& target_shapes, const std::vector<LoraFile>& listed) {
  MergePlan out;
  for (const LoraFile& lora : each_file_once(listed, out.notes)) {
    out.files.push_back(std::make_unique<safetensors::Checkpoint>(lora.path));
    const safetensors::Checkpoint& file = *out.files.back();
    const std::string source = lora.path.string();
    std::vector<std::string> names;
    for (const auto& t : file.tensors()) names.push_back(t.name);
    const LoraPlan plan = plan_lora(names, source);
    check_lora_has_modules(plan, source);
    const ShapeMap shapes = shapes_of(file);
    for (const LoraModule& m : plan.modules) {
      const auto target = target_shapes.find(m.target);
      if (target == target_shapes.end())
        throw WeightError(source + ": LoRA module '" + m.module + "' changes '" + m.target + "', which this model lacks");
      const int64_t rank = check_lora_shapes(m, shapes, target->second, source);
      check_lora_dtypes(m, file, source);
      const double alpha = alpha_of(m, file, rank), factor = lora.scale * alpha / static_cast<double>(rank);
      // The products run in float32: a factor no float holds (an alpha of 1e300, NaN) is the file's fault, named
      // here rather than by libtorch's "cannot be converted to type float without overflow".
      if (!(std::abs(factor) <= double(std::numeric_limits<float>::max())))
        throw WeightError(source + ": LoRA module '" + m.module + "': scale " + g_text(lora.scale) +
                          " x alpha " + g_text(alpha) + " / rank " + std::to_string(rank) +
                          " is no finite float32 factor");
      // A zero factor (scale 0 to switch a LoRA off, scales that cancel) adds nothing: its weight is not copied,
      // nor counted against memory. A module of FLUX-dev's every block had copied 24 GB of bf16 weights for it.
      if (factor != 0) out.by_target[m.target].push_back({&file, m, factor});
    }
    for (const std::string& overlap : lora_overlaps(plan)) out.notes.push_back(source + ": " + overlap);
    if (const std::string note = metadata_note(file, source); !note.empty()) out.notes.push_back(note);
    if (const std::string note = note_of(plan, source); !note.empty()) out.notes.push_back(note);
  }
  return out;
}

}  // namespace

LoraTargets lora_targets(const TensorMap& base) {
  LoraTargets out;
  for (const auto& [name, tensor] : base) {
    out.shapes.emplace(name, weight_shape(base, name));
    const bool blocks = find_q8_0(base, name) || find_ggml_blocks(base, name);
    out.stored_bytes.emplace(name, blocks ? 34.0 / 32 : double(tensor.element_size()));
  }
  return out;
}

LoraCheck check_loras(const LoraTargets& targets, const std::vector<LoraFile>& loras) {
  const MergePlan plan = plan_merge(targets.shapes, loras);
  LoraCheck out;
  out.notes = plan.notes;
  for (const auto& [name, planned] : plan.by_target) {
    double values = 1;
    for (int64_t d : targets.shapes.at(name)) values *= double(d);
    out.targets.push_back(name);
    out.target_bytes += values * targets.stored_bytes.at(name);
    out.largest_target = std::max(out.largest_target, values);
    for (const Planned& p : planned) {
      const auto& down = p.file->at(p.module.down).shape;
      const auto& up = p.file->at(p.module.up).shape;
      out.largest_factors = std::max(out.largest_factors, double(down[0]) * double(down[1]) + double(up[0]) * double(up[1]));
    }
  }
  return out;
}

LoraMerge merge_loras(const TensorMap& base, const std::vector<LoraFile>& loras,
                      const std::function<void()>& between_deltas) {
  // 1. Every file read and every module checked before any weight is copied.
  const MergePlan plan = plan_merge(lora_targets(base).shapes, loras);
  LoraMerge out;
  out.notes = plan.notes;
  out.files = plan.files.size();
  // 2. W' = W + sum of the deltas, accumulated in float32 and rounded once to W's dtype. A Q8_0 weight is
  // dequantised (exactly) and quantised again by ggml's rule, so it stays 8-bit; other GGUF blocks (Q4_K, ...)
  // are decoded and stored as Q8_0 too: a merge is not re-fitted to their 2 to 6 bits.
  out.weights = base;
  for (const auto& [name, planned] : plan.by_target) {
    const std::optional<Q8Blocks> blocks = find_q8_0(base, name);
    const std::optional<GgmlBlockTensor> ggml =
        blocks ? std::nullopt : find_ggml_blocks(base, name);
    const torch::Tensor& w = base.at(name);
    torch::Tensor merged = blocks ? dequantize_q8_0(*blocks)
                           : ggml ? dequantize_ggml_blocks(*ggml)
                                  : w.to(torch::kFloat32, /*non_blocking=*/false, /*copy=*/true);
    for (const Planned& p : planned) {
      if (between_deltas) between_deltas();
      add_delta(merged, p);
    }
    // Finite factors can still overflow: float32 in the sum, or the weight's own dtype when it is rounded back
    // (f16 ends at 65504; a Q8_0 block's float16 scale at 65504 x 127).
    torch::Tensor stored = blocks || ggml ? merged : merged.to(w.scalar_type());
    if (!(blocks || ggml ? all_within(merged, kQ8_0Largest) : all_finite(stored))) {
      // Only now decoded again: the blocks' own scales may be what is not finite.
      const bool base_finite =
          !(blocks || ggml) || all_finite(blocks ? dequantize_q8_0(*blocks) : dequantize_ggml_blocks(*ggml));
      throw_not_finite(name, w, blocks || ggml, base_finite, planned);
    }
    if (blocks || ggml) {
      put_q8_0(out.weights, name, quantize_q8_0(merged));
      out.weights.erase(ggml_type_key(name));
    } else {
      out.weights[name] = stored;
    }
    out.changed.push_back(name);
  }
  return out;
}

}  // namespace genplug::flux
