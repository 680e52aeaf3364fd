// See transformer_source.hpp. Files go through genplug_flux_weights (load_flux_transformer: layout detection,
// diffusers -> BFL, config inference and checks, zero-copy memory-mapped tensors where the dtype allows; GGUF
// files, told by their magic, with quantised matrices kept in their blocks).
#include "transformer_source.hpp"

#include "machine_memory.hpp"

#include <genplug/flux/presets.hpp>
#include <genplug/flux/name_text.hpp>
#include <genplug/flux/transformer_keys.hpp>
#include <genplug/flux/weights.hpp>
#include <genplug/gguf.hpp>
#include <genplug/plugin.hpp>
#include <genplug/safetensors.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <vector>

namespace genplug::flux {

namespace {

namespace st = genplug::safetensors;

TransformerSource from_checkpoint(const ModelSettings& s, torch::Dtype dtype, torch::Device device) {
  const std::string& source = s.transformer;
  std::optional<FluxConfig> explicit_config;
  if (!s.overrides.empty() || s.preset) {
    // Partial overrides apply on top of what the shapes say; load_flux_transformer then checks the result.
    const FluxConfig inferred = infer_flux_config(bfl_transformer_shapes(checkpoint_shapes(source), source), source);
    FluxConfig base = inferred;
    if (s.preset) {  // the file must be the named model; its rotary axes are the preset's
      const FluxConfig expected = flux_preset(*s.preset);
      check_flux_config(expected, inferred, source);
      if (base.axes_dim.empty()) base.axes_dim = expected.axes_dim;
    }
    explicit_config = apply_config_overrides(base, s.overrides);
    if (explicit_config->axes_dim.empty())
      throw ConfigError("config.config.axes_dim: " + source + " has head dim " + std::to_string(inferred.head_dim()) +
                        "; its rotary axes cannot be inferred from weights, give them explicitly");
  }
  // Linux overcommits: copies beyond memory would be "allocated", then the OOM killer would end the process.
  const BeforeLoad check = [&](const LoadBytes& b) {
    if (!device.is_cpu()) return;  // device memory is not checked (nor quantized there against this one)
    const bool int8 = s.quantize == "int8";
    check_checkpoint_copies_fit(b.copied, b.temporary, int8 ? quantized_build_bytes(b.matrix_values, b.largest_matrix) : 0,
                                source, s.dtype);
  };
  FluxTransformerWeights w = load_flux_transformer(std::filesystem::path(source), explicit_config, dtype, device, check);
  TransformerSource out;
  out.config = w.config;
  out.weights = std::move(w.tensors);
  out.preset = s.preset.value_or(out.config.guidance_embed ? "flux-dev" : "flux-schnell");
  return out;
}

// ctime too: `cp -p` or `rsync -t --inplace` onto a file of the same size keeps its inode, size and mtime.
std::string stamp_of(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return file.string() + ": gone\n";
  auto time = [](const timespec& t) { return std::to_string(t.tv_sec) + "." + std::to_string(t.tv_nsec); };
  return file.string() + ":" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + time(st.st_mtim) + ":" + time(st.st_ctim) + "\n";
}

}  // namespace

std::string source_stamp(const std::string& path) {
  std::error_code ec;
  // An index names shards beside it: the folder is what holds the weights.
  const std::filesystem::path folder =
      ends_with(path, ".index.json") ? std::filesystem::path(path).parent_path() : std::filesystem::path(path);
  if (!std::filesystem::is_directory(folder, ec)) return stamp_of(path);
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(folder, ec))
    if (e.is_regular_file(ec)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::string stamp;
  for (const auto& f : files) stamp += stamp_of(f);
  return stamp;
}

TransformerSource load_transformer_source(const ModelSettings& s, torch::Dtype dtype, torch::Device device) {
  if (s.transformer == "random") {
    TransformerSource out;
    out.preset = s.preset.value_or("tiny");
    out.config = apply_config_overrides(flux_preset(out.preset), s.overrides);
    validate_flux_config(out.config);
    if (device.is_cpu())
      check_random_weights_fit(out.config, c10::elementSize(dtype), s.dtype,
                               out.preset + (s.overrides.empty() ? "" : " with config.config's changes"),
                               s.quantize == "int8" ? quantized_build_bytes(out.config) : 0);
    out.weights = random_flux_weights(out.config, s.seed, dtype, device);
    return out;
  }
  try {
    return from_checkpoint(s, dtype, device);
  } catch (const Error&) {
    throw;
  } catch (const WeightError& e) {
    throw Error(GENPLUG_E_CONFIG, std::string("transformer: ") + e.what());
  } catch (const st::OutOfMemory& e) {
    throw unmappable_file_error("transformer: ", e);
  } catch (const gguf::OutOfMemory& e) {
    throw unmappable_file_error("transformer: ", e);
  } catch (const st::Error& e) {
    throw Error(GENPLUG_E_IO, std::string("transformer: ") + e.what());
  } catch (const gguf::Error& e) {
    throw Error(GENPLUG_E_IO, std::string("transformer: ") + e.what());
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(GENPLUG_E_IO, "transformer " + s.transformer + ": " + e.what());
  }
}

}  // namespace genplug::flux
