#define BOOST_TEST_MODULE manifest
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <genplug/host/errors.hpp>
#include <genplug/host/manifest.hpp>

#include "manifest_errors.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using genplug::host::HostError;
using genplug::host::Manifest;
using nlohmann::json;

namespace {

json minimal() {
  return json::parse(R"({
    "model": {"plugin": "org.genplug.flux", "config": {"transformer": "random"}},
    "scheduler": {"plugin": "org.genplug.flowmatch"},
    "posenc": {"plugin": "org.genplug.dype", "config": {"method": "dy-yarn"}},
    "jobs": [{"prompt": "a cat", "width": 64, "height": 48, "seed": 3, "output": "a.exr"},
             {"output": "b.exr", "posenc": "none", "scheduler": {"plugin": "org.genplug.flowmatch",
              "config": {"sampler": "heun"}}}]
  })");
}

std::string error_of(json doc, std::vector<std::string> overrides = {}) {
  return genplug::test::manifest_error(std::move(doc), "m.json", overrides);
}

using genplug::test::contains;

}  // namespace

// Hostile input: 100 000 nested arrays (the error path recursed through them and crashed) in the file and in an
// override are refused by depth, naming the file or the override.
BOOST_AUTO_TEST_CASE(deeply_nested_json_is_refused) {
  const auto path = std::filesystem::temp_directory_path() / ("genplug-deep-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << std::string(100000, '[') << std::string(100000, ']');
  try {
    Manifest::load(path);
    BOOST_FAIL("accepted");
  } catch (const HostError& e) {
    BOOST_TEST(e.exit_code() == 3);
    BOOST_TEST(contains(e.what(), path.string() + ": nested deeper than 64 levels"), e.what());
  }
  std::filesystem::remove(path);
  const std::string e = error_of(minimal(), {"jobs.0.prompt=" + std::string(50000, '[') + std::string(50000, ']')});
  BOOST_TEST(contains(e, "override 'jobs.0.prompt="));
  BOOST_TEST(contains(e, "nested deeper than 64 levels"));
}

// A valid manifest followed by a NUL byte and garbage: nlohmann's parser ends the text at the NUL, which had the
// manifest accepted. The error names the byte and carries no nlohmann tag ("[json.exception...]").
BOOST_AUTO_TEST_CASE(a_nul_byte_is_not_valid_json) {
  const auto path = std::filesystem::temp_directory_path() / ("genplug-nul-" + std::to_string(::getpid()) + ".json");
  const std::string text = minimal().dump();
  std::ofstream(path, std::ios::binary) << text << '\0' << " garbage {{{";
  try {
    Manifest::load(path);
    BOOST_FAIL("accepted");
  } catch (const HostError& e) {
    BOOST_TEST(e.exit_code() == 3);
    BOOST_TEST(contains(e.what(), "not valid JSON: parse error at byte " + std::to_string(text.size() + 1) +
                                      ": syntax error: a NUL byte"),
               e.what());
    BOOST_TEST(!contains(e.what(), "json.exception"), e.what());
  }
  std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(a_valid_manifest_converts) {
  Manifest m = Manifest::parse(minimal(), "dir/m.json");
  BOOST_TEST(m.model.plugin == "org.genplug.flux");
  BOOST_TEST(m.model.config["transformer"] == "random");
  BOOST_TEST(m.jobs.size() == 2u);
  BOOST_TEST(*m.jobs[0].width == 64u);
  BOOST_TEST(m.jobs[0].seed == 3u);
  BOOST_TEST(!m.jobs[1].width.has_value());
  BOOST_TEST(m.jobs[1].plain_rope);
  BOOST_TEST(m.jobs[1].scheduler->config["sampler"] == "heun");
  BOOST_TEST(m.jobs[0].exr.compression == "zip");
  BOOST_TEST(m.jobs[0].exr.pixel == "half");
}

BOOST_AUTO_TEST_CASE(overrides_change_values_and_bad_overrides_are_named) {
  Manifest m = Manifest::parse(minimal(), "m.json", {"jobs.0.seed=7", "job.1.prompt=a dog", "exr.pixel=float"});
  BOOST_TEST(m.jobs[0].seed == 7u);
  BOOST_TEST(m.jobs[1].prompt == "a dog");
  BOOST_TEST(m.jobs[1].exr.pixel == "float");
  BOOST_TEST(contains(error_of(minimal(), {"jobs.5.seed=1"}), "index 5 is out of range"));
  // An entry of a list the job does not have: named as the override's, not as the manifest's "expected array".
  BOOST_TEST(contains(error_of(minimal(), {"jobs.0.loras.0.scale=2"}),
                      "override 'jobs.0.loras.0.scale=2': jobs.0.loras is not there, so it has no entry 0: set the "
                      "whole list (jobs.0.loras=[...])"));
  // In a plugin's config, a key of digits is the plugin's to allow: made as an object's key, as before.
  const Manifest digits = Manifest::parse(minimal(), "m.json", {"scheduler.config.by_size.1024=30"});
  BOOST_TEST(digits.scheduler.config["by_size"]["1024"] == 30);
  BOOST_TEST(contains(error_of(minimal(), {"jobs.0.seed"}), "expected PATH=VALUE"));
  // An empty segment anywhere, the last too: "jobs.0.=1" had set jobs[0] to 1.
  for (const char* empty : {"jobs.0.=1", "jobs..seed=1", ".jobs=1"})
    BOOST_TEST(contains(error_of(minimal(), {empty}), "empty path segment"), empty);
  BOOST_TEST(contains(error_of(minimal(), {"jobs.0.seed=-4"}), "jobs[0].seed"));
}

BOOST_AUTO_TEST_CASE(bad_manifests_name_the_file_and_the_json_path) {
  struct Case {
    const char* what;
    std::function<void(json&)> edit;
    std::vector<std::string> fragments;
  };
  const std::vector<Case> cases = {
      {"missing model", [](json& d) { d.erase("model"); }, {"m.json", "model"}},
      {"missing jobs", [](json& d) { d.erase("jobs"); }, {"m.json", "jobs"}},
      {"no jobs", [](json& d) { d["jobs"] = json::array(); }, {"jobs"}},
      {"wrong type", [](json& d) { d["jobs"][0]["width"] = "64"; }, {"jobs[0].width", "integer"}},
      {"unknown key", [](json& d) { d["jobs"][0]["widht"] = 64; }, {"jobs[0]", "widht"}},
      {"plugin id not a string", [](json& d) { d["model"]["plugin"] = 3; }, {"model.plugin"}},
      {"config not an object", [](json& d) { d["posenc"]["config"] = "dy-yarn"; }, {"posenc.config"}},
      {"missing output", [](json& d) { d["jobs"][0].erase("output"); }, {"jobs[0]", "output"}},
      {"same output twice", [](json& d) { d["jobs"][1]["output"] = "a.exr"; }, {"jobs[1].output", "jobs[0]"}},
      {"bad compression", [](json& d) { d["exr"] = {{"compression", "jpeg"}}; }, {"exr.compression"}},
      {"negative steps", [](json& d) { d["jobs"][0]["steps"] = 0; }, {"jobs[0].steps"}},
      // A plugin folder that is not there, or no folder or library, as --plugin-path refuses it (the catalog had
      // skipped it without a word).
      {"plugin_path missing", [](json& d) { d["plugin_path"] = {"/", "/nonexistent/plugins"}; },
       {"m.json: plugin_path[1]: '/nonexistent/plugins': No such file or directory"}},
      {"plugin_path a device", [](json& d) { d["plugin_path"] = {"/dev/zero"}; },
       {"plugin_path[0]: '/dev/zero' is not a folder or a plugin library"}},
      // A NUL ends a C string: the path or name read would be another one.
      {"NUL in plugin_path", [](json& d) { d["plugin_path"] = {std::string("/\0x", 3)}; },
       {"m.json: plugin_path[0]: contains a NUL character"}},
      {"NUL in a plugin id", [](json& d) { d["model"]["plugin"] = std::string("org.genplug.flux\0x", 18); },
       {"m.json: model.plugin: contains a NUL character"}},
      {"NUL in a colour space", [](json& d) { d["exr"] = {{"colorspace", std::string("ACEScg\0", 7)}}; },
       {"m.json: exr.colorspace: contains a NUL character"}},
      {"NUL in a job's LoRA", [](json& d) { d["jobs"][0]["loras"] = {{{"path", std::string("l\0", 2)}}}; },
       {"m.json: jobs[0].loras[0].path: contains a NUL character"}},
  };
  for (const auto& c : cases) {
    json d = minimal();
    c.edit(d);
    const std::string e = error_of(d);
    BOOST_TEST_MESSAGE(c.what << " -> " << e);
    BOOST_TEST(!e.empty(), c.what);
    for (const auto& f : c.fragments) BOOST_TEST(contains(e, f), c.what << ": expected '" << f << "' in: " << e);
  }
}

// A plugin's config reaches the plugin as JSON, a NUL escaped: the plugin judges it (flux refuses it in a path).
// A key twice in an override's JSON value is refused, as in the manifest file (JSON keeps the last value only).
BOOST_AUTO_TEST_CASE(a_duplicate_key_in_an_override_value_is_refused) {
  const std::string e = error_of(minimal(), {R"(exr={"pixel": "half", "pixel": "float"})"});
  BOOST_TEST(contains(e, "override 'exr={\"pixel\": \"half\", \"pixel\": \"float\"}': the value's pixel: the key appears "
                         "twice in its object"),
             e);
}

// Text that is not JSON is a bare string, whatever keys it seemed to repeat before it stopped being JSON.
BOOST_AUTO_TEST_CASE(a_bare_word_override_with_repeated_keys_is_a_string) {
  const Manifest m = Manifest::parse(minimal(), "m.json", {R"(jobs.0.prompt={"a": 1, "a": 2} red)"});
  BOOST_TEST(m.jobs.at(0).prompt == R"({"a": 1, "a": 2} red)");
}

BOOST_AUTO_TEST_CASE(a_nul_in_a_plugin_config_is_the_plugins_to_judge) {
  json d = minimal();
  d["model"]["config"]["transformer"] = std::string("a\0b", 3);
  const Manifest m = Manifest::parse(d, "m.json");
  BOOST_TEST(m.model.config.at("transformer").get<std::string>() == std::string("a\0b", 3));
  BOOST_TEST(contains(m.model.config.dump(), "a\\u0000b"));
}

BOOST_AUTO_TEST_CASE(load_reports_an_unreadable_file_by_name) {
  try {
    Manifest::load("/nonexistent/m.json");
    BOOST_FAIL("no error");
  } catch (const HostError& e) {
    BOOST_TEST(contains(e.what(), "/nonexistent/m.json: cannot read manifest: it does not exist"), e.what());
  }
}

// A dangling link is named as one, with its target: "does not exist" beside a link `ls` shows reads as wrong. The
// same text for a prompts file, a plate and a LoRA (internal::missing_file_text): the end of a chain of links, a
// relative target from its link's folder.
BOOST_AUTO_TEST_CASE(a_dangling_link_is_named_with_its_target) {
  const genplug::test::TempDir d;
  fs::create_symlink(d.path / "moved.json", d.path / "m.json");
  try {
    Manifest::load(d.path / "m.json");
    BOOST_FAIL("no error");
  } catch (const HostError& e) {
    BOOST_TEST(contains(e.what(), "m.json: cannot read manifest: it is a symbolic link to '" +
                                      (d.path / "moved.json").string() + "', which does not exist"),
               e.what());
  }
  fs::create_symlink("gone.txt", d.path / "prompts.txt");
  fs::create_symlink("prompts.txt", d.path / "chain.txt");
  json doc = minimal();
  doc["jobs"][0].erase("prompt");
  for (const char* file : {"prompts.txt", "chain.txt"}) {
    doc["jobs"][0]["prompts"] = {{"file", file}};
    BOOST_TEST(contains(genplug::test::manifest_error(doc, d.path / "n.json"),
                        "it is a symbolic link to '" + (d.path / "gone.txt").string() + "', which does not exist"));
  }
  // A relative target from a folder reached through a link: named from the real folder, as the kernel reads it.
  fs::create_directories(d.path / "else" / "deep");
  fs::create_directory_symlink(d.path / "else" / "deep", d.path / "sub");
  fs::create_symlink("../gone.txt", d.path / "sub" / "up.txt");
  doc["jobs"][0]["prompts"] = {{"file", "sub/up.txt"}};
  BOOST_TEST(contains(genplug::test::manifest_error(doc, d.path / "n.json"),
                      "symbolic link to '" + (fs::canonical(d.path / "else" / "deep") / "../gone.txt").string() + "'"));
}

BOOST_AUTO_TEST_CASE(an_override_that_is_not_utf8_is_refused_up_front) {
  BOOST_TEST(contains(error_of(minimal(), {"jobs.0.prompt=caf\xe9"}), "the value is not valid UTF-8"));
  // A key that is not UTF-8 (found by fuzz_manifest): refused here, not when the manifest is dumped later.
  BOOST_TEST(contains(error_of(minimal(), {"scheduler.config.\xff\xfe=1"}), "the path is not valid UTF-8"));
  BOOST_TEST(contains(error_of(minimal(), {"jobs.0.caf\xe9=\"x\""}), "the path is not valid UTF-8"));
}

// The top-level "exr" holds every job's default EXR settings; a job's own "exr" replaces them key by key.
BOOST_AUTO_TEST_CASE(top_level_exr_is_the_default_and_a_jobs_exr_overrides_it_key_by_key) {
  json d = minimal();
  d["exr"] = {{"pixel", "float"}, {"compression", "piz"}, {"overwrite", true}};
  d["jobs"][1]["exr"] = {{"compression", "dwaa"}, {"encoding", "display"}};
  const Manifest m = Manifest::parse(d, "m.json");
  BOOST_TEST(m.jobs[0].exr.pixel == "float");
  BOOST_TEST(m.jobs[0].exr.compression == "piz");
  BOOST_TEST(m.jobs[0].exr.encoding == "linear");
  BOOST_TEST(m.jobs[0].exr.overwrite);
  BOOST_TEST(m.jobs[1].exr.pixel == "float");  // from the top level
  BOOST_TEST(m.jobs[1].exr.compression == "dwaa");
  BOOST_TEST(m.jobs[1].exr.encoding == "display");
  BOOST_TEST(m.jobs[1].exr.overwrite);
  BOOST_TEST(m.jobs[1].output == "b.exr");  // a job's "output" is still its path

  // Overrides reach both levels.
  const Manifest o = Manifest::parse(d, "m.json", {"exr.pixel=half", "jobs.1.exr.overwrite=false"});
  BOOST_TEST(o.jobs[0].exr.pixel == "half");
  BOOST_TEST(o.jobs[1].exr.pixel == "half");
  BOOST_TEST(o.jobs[1].exr.compression == "dwaa");
  BOOST_TEST(!o.jobs[1].exr.overwrite);
  BOOST_TEST(o.jobs[0].exr.overwrite);
}

// genplug 0.2 renamed the top-level "output" (EXR settings) to "exr": the old key is refused with what to write
// instead, before the schema (which would call it an unknown key) and before anything is created; so is an
// override of it.
BOOST_AUTO_TEST_CASE(the_old_top_level_output_key_is_refused_with_its_new_name) {
  const std::string renamed = R"(output: renamed to "exr" in genplug 0.2 (ABI 1.1); write )";
  json d = minimal();
  d["output"] = {{"pixel", "float"}};
  BOOST_TEST(error_of(d) == "m.json: " + renamed + R"("exr": {...})");  // nothing else, not the schema's message
  BOOST_TEST(genplug::test::manifest_error(d, "dir/manifest.json") ==
             "dir/manifest.json: " + renamed + R"("exr": {...})");

  d["exr"] = {{"pixel", "float"}};  // also when both are there
  BOOST_TEST(contains(error_of(d), renamed));
  d["output"] = json::object();  // also when empty
  BOOST_TEST(contains(error_of(d), renamed));
  d["jobs"][0]["widht"] = 1;  // reported before the schema's problems
  BOOST_TEST(contains(error_of(d), renamed));

  // From a file, as `genplug run` reads it (exit code 3, as for every manifest error).
  const auto path = std::filesystem::temp_directory_path() / ("genplug-renamed-" + std::to_string(::getpid()) + ".json");
  json old = minimal();
  old["output"] = {{"pixel", "half"}, {"encoding", "linear"}, {"compression", "zip"}};
  std::ofstream(path) << old.dump(2);
  try {
    Manifest::load(path);
    BOOST_FAIL("accepted");
  } catch (const HostError& e) {
    BOOST_TEST(e.exit_code() == 3);
    BOOST_TEST(std::string(e.what()) == path.string() + ": " + renamed + R"("exr": {...})");
  }
  std::filesystem::remove(path);

  // Overrides of the old key, with the override to write instead.
  BOOST_TEST(error_of(minimal(), {"output.pixel=float"}) ==
             "m.json: override 'output.pixel=float': " + renamed + "exr.pixel=float");
  BOOST_TEST(error_of(minimal(), {"jobs.0.seed=1", R"(output={"compression":"piz"})"}) ==
             "m.json: override 'output={\"compression\":\"piz\"}': " + renamed + R"(exr={"compression":"piz"})");

  // Not the old key: a job's "output" path, keys that merely start with "output", a top-level "output" that is not
  // an object (an unknown key, as before the rename).
  BOOST_TEST(error_of(minimal(), {"jobs.0.output=c.exr"}) == "");
  BOOST_TEST(!contains(error_of(minimal(), {"outputs.pixel=float"}), "renamed"));
  json s = minimal();
  s["output"] = "a.exr";
  const std::string e = error_of(s);
  BOOST_TEST(contains(e, "output"), e);
  BOOST_TEST(!contains(e, "renamed"), e);
}

// A key twice in one object is a manifest error naming where (nlohmann keeps the last value, silently: a job
// written with two seeds rendered the second). The same key in two objects is fine.
BOOST_AUTO_TEST_CASE(a_key_twice_in_one_object_is_named) {
  namespace fs = std::filesystem;
  const fs::path file = fs::temp_directory_path() / ("genplug-dup-" + std::to_string(::getpid()) + ".json");
  const auto error_for = [&](const std::string& text) -> std::string {
    std::ofstream(file) << text;
    try {
      Manifest::load(file);
      return "";
    } catch (const HostError& e) {
      BOOST_TEST(e.exit_code() == 3);
      return e.what();
    }
  };
  std::string text = minimal().dump();
  text.replace(text.find("\"seed\":3"), 8, "\"seed\":3,\"seed\":4");
  std::string e = error_for(text);
  BOOST_TEST(contains(e, file.string() + ": jobs[0].seed: the key appears twice in its object"), e);
  json two_jobs = minimal();
  two_jobs["jobs"].push_back(two_jobs["jobs"][0]);
  two_jobs["jobs"].back()["output"] = "second.exr";
  text = two_jobs.dump();
  text.insert(text.rfind('}'), ",\"jobs\":[]");  // at the top, after the real list
  e = error_for(text);
  BOOST_TEST(contains(e, ": jobs: the key appears twice"), e);
  e = error_for(two_jobs.dump());
  BOOST_TEST(e.empty(), e);
  // A number no double holds is still placed when a key is doubled before it; an empty key twice is named "".
  text = minimal().dump();
  text.replace(text.find("\"seed\":3"), 8, "\"seed\":3,\"seed\":1e400");
  e = error_for(text);
  BOOST_TEST(contains(e, "jobs[0].seed: a number is outside the range of a double"), e);
  e = error_for(R"({"":1,"":2})");
  BOOST_TEST(contains(e, ": \"\": the key appears twice"), e);
  fs::remove(file);
}

// Numbers out of range: one no double holds (1e400) is a manifest error naming the file, or the override, and
// the number (it was a raw library message and exit 5); guidance and LoRA scales are bounded by the schema.
BOOST_AUTO_TEST_CASE(numbers_out_of_range_name_the_file_and_the_field) {
  namespace fs = std::filesystem;
  const fs::path file = fs::temp_directory_path() / ("genplug-range-" + std::to_string(::getpid()) + ".json");
  std::string text = minimal().dump();
  text.replace(text.find("\"seed\":3"), 8, "\"seed\":1e400");
  std::ofstream(file) << text;
  try {
    Manifest::load(file);
    BOOST_ERROR("1e400 was accepted");
  } catch (const HostError& e) {
    BOOST_TEST(e.exit_code() == 3);
    BOOST_TEST(contains(e.what(), file.string()), e.what());
    BOOST_TEST(contains(e.what(), "jobs[0].seed: a number is outside the range of a double: 1e400"), e.what());
  }
  fs::remove(file);
  const std::string o = error_of(minimal(), {"jobs.0.seed=1e400"});
  BOOST_TEST(contains(o, "override 'jobs.0.seed=1e400'"), o);
  BOOST_TEST(contains(o, "outside the range of a double"), o);
  json big = minimal();
  big["jobs"][0]["guidance"] = 1e308;
  BOOST_TEST(contains(error_of(big), "jobs[0].guidance: expected number <= 100"));
  json scale = minimal();
  scale["jobs"][0]["loras"] = json::array({{{"path", "x.safetensors"}, {"scale", -1e9}}});
  BOOST_TEST(contains(error_of(scale), "jobs[0].loras[0].scale"));
}
