// The CLIP tokenizer corpora of the golden folder: every tokenizers/clip_ids*.json (clip_ids.json, the typed
// corpus, and any other with that layout), sorted by name. Shared by the CLIP and T5 tokenizer tests.
#pragma once
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "golden.hpp"

namespace genplug::test {

inline std::vector<std::filesystem::path> golden_clip_corpora() {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  const fs::path dir = golden("tokenizers");
  if (fs::is_directory(dir))
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("clip_ids", 0) == 0 && entry.path().extension() == ".json") files.push_back(entry.path());
    }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace genplug::test
