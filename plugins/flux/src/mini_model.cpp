#include "mini_model.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <vector>

#include <genplug/flux/mini_model_files.hpp>
#include <genplug/plugin.hpp>

namespace genplug::flux {

namespace fs = std::filesystem;

namespace {

fs::path this_library_folder() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&this_library_folder), &info) == 0 || !info.dli_fname) return {};
  return fs::path(info.dli_fname).parent_path();
}

}  // namespace

fs::path find_mini_model() {
  auto holds_model = [](const fs::path& folder) {
    std::error_code ec;
    return fs::is_regular_file(MiniModelFiles{folder}.transformer(), ec);
  };
  if (const char* env = std::getenv("GENPLUG_MINI_MODEL"); env && *env) {  // exclusive: never a silent fallback
    if (!holds_model(env))
      throw ConfigError(std::string("config.preset: \"mini\": GENPLUG_MINI_MODEL is '") + env +
                        "', which holds no transformer.safetensors");
    return fs::path(env);
  }
  // share/genplug/models/mini beside the library: lib/genplug/ when installed; build/plugins/ in a build tree,
  // where CMake links build/share/genplug/models/mini to the source tree's models/mini.
  const fs::path lib = this_library_folder();
  std::string looked;
  for (const fs::path& folder : {lib / ".." / ".." / "share" / "genplug" / "models" / "mini",
                                 lib / ".." / "share" / "genplug" / "models" / "mini"}) {
    if (!lib.empty() && holds_model(folder)) return folder.lexically_normal();
    looked += (looked.empty() ? "" : ", ") + folder.lexically_normal().string();
  }
  throw ConfigError("config.preset: \"mini\": the shipped model was not found (looked in " + looked +
                    "); set GENPLUG_MINI_MODEL to its folder");
}

ModelSettings with_mini_files(ModelSettings s) {
  if (s.preset != std::optional<std::string>("mini")) return s;
  const bool wants_files = s.transformer == kMiniShipped || s.vae == kMiniShipped ||
                           (s.text.is_null() && s.conditioning.empty());
  if (!wants_files) return s;
  const MiniModelFiles files{find_mini_model()};
  if (s.transformer == kMiniShipped) s.transformer = files.transformer().string();
  if (s.vae == kMiniShipped) s.vae = files.vae().string();
  if (s.text.is_null() && s.conditioning.empty()) s.text = files.text_config();
  return s;
}

}  // namespace genplug::flux
