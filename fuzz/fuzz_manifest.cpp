// libFuzzer target: the manifest reader — JSON (nesting-limited), `--set` overrides, JSON Schema validation
// against the embedded manifest schema, batch expansion (seeds, prompts, wedges, output patterns) and the
// duplicate-output check — through Manifest::load, as `genplug run`/`validate` call it.
//
// Input: the manifest text, then optionally a line "---" followed by one override ("jobs.0.seed=7") per line.
// The manifest lies in a scratch folder holding "prompts.txt" (three prompts) for {"prompts": {"file": ...}}.
#include <cstdint>
#include <exception>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <genplug/host/errors.hpp>
#include <genplug/host/json_schema.hpp>
#include <genplug/host/manifest.hpp>

#include "fuzz_support.hpp"

namespace gh = genplug::host;
namespace gf = genplug::fuzz;

namespace {

gf::MemFile* input = nullptr;
gf::ScratchDir* scratch = nullptr;
std::filesystem::path manifest_path;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  input = new gf::MemFile("manifest");
  scratch = new gf::ScratchDir();
  manifest_path = scratch->link("manifest.json", *input);
  std::ofstream(scratch->path() / "prompts.txt") << "\xEF\xBB\xBF" "a red house\r\n\n  \na cat on a mat\nlast\n";
  (void)gh::manifest_schema();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string_view manifest = text;
  std::vector<std::string> overrides;
  if (const std::size_t sep = text.find("\n---\n"); sep != std::string_view::npos) {
    manifest = text.substr(0, sep + 1);
    std::string_view rest = text.substr(sep + 5);
    while (!rest.empty()) {
      const std::size_t nl = rest.find('\n');
      overrides.emplace_back(rest.substr(0, nl));
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    }
  }
  input->write(manifest);
  try {
    const gh::Manifest m = gh::Manifest::load(manifest_path, overrides);
    // What the pipeline reads next: every job's fields, and the plugin configs it hands on as text.
    for (const gh::Job& job : m.jobs) {
      (void)job.output.string();
      (void)job.raw.dump();
      if (job.scheduler) (void)job.scheduler->config.dump();
      if (job.posenc) (void)job.posenc->config.dump();
    }
    (void)m.model.config.dump();
    (void)m.raw.dump();
  } catch (const gh::HostError& e) {
    if (e.kind() != gh::ErrorKind::manifest)
      gf::finding("manifest", std::string("HostError of kind ") + std::to_string(e.exit_code()) + ": " + e.what(),
                  data, size);
  } catch (const std::exception& e) {
    // The CLI reports these too, but as a raw library message without the file or field (exit code 5).
    gf::finding("manifest", std::string("unexpected exception: ") + e.what(), data, size);
  }
  return 0;
}
