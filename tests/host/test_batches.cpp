// Batch jobs (seeds, prompts, wedges) expand into work items with filled-in output patterns, collisions are
// refused before anything runs, and shards partition the items (docs/manifest.md "Batches", docs/farm.md).
#define BOOST_TEST_MODULE batches
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <genplug/host/errors.hpp>
#include <genplug/host/manifest.hpp>
#include <genplug/host/shard.hpp>

#include "manifest_errors.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using genplug::host::HostError;
using genplug::host::Job;
using genplug::host::Manifest;
using genplug::host::Shard;
using genplug::test::TempDir;
using nlohmann::json;

namespace {

json with_jobs(json jobs) {
  return {{"model", {{"plugin", "org.genplug.flux"}}}, {"scheduler", {{"plugin", "org.genplug.flowmatch"}}}, {"jobs", jobs}};
}

std::string error_of(const json& doc, const fs::path& path = "m.json") { return genplug::test::manifest_error(doc, path); }

using genplug::test::contains;

}  // namespace

BOOST_AUTO_TEST_CASE(seeds_expand_in_order_with_global_indices) {
  const Manifest m = Manifest::parse(
      with_jobs({{{"seeds", {{"from", 5}, {"count", 3}}}, {"output", "o_{seed}_{index:03}.exr"}},
                 {{"seed", 9}, {"output", "single_{job}_{index}.exr"}},
                 {{"seeds", {42, 7}}, {"prompt", "a cat"}, {"output", "s{seed:05}.exr"}}}),
      "m.json");
  BOOST_REQUIRE_EQUAL(m.jobs.size(), 6u);
  const std::vector<std::string> outputs = {"o_5_000.exr", "o_6_001.exr", "o_7_002.exr",
                                            "single_1_3.exr", "s00042.exr", "s00007.exr"};
  const std::vector<uint64_t> seeds = {5, 6, 7, 9, 42, 7};
  const std::vector<size_t> jobs = {0, 0, 0, 1, 2, 2};
  for (size_t i = 0; i < m.jobs.size(); ++i) {
    BOOST_TEST(m.jobs[i].index == i);
    BOOST_TEST(m.jobs[i].output.string() == outputs[i]);
    BOOST_TEST(m.jobs[i].seed == seeds[i]);
    BOOST_TEST(m.jobs[i].job == jobs[i]);
    BOOST_TEST(!m.jobs[i].raw.contains("seeds"));  // each item is a plain job
    BOOST_TEST(m.jobs[i].raw["seed"] == seeds[i]);
  }
  BOOST_TEST(m.jobs[4].prompt == "a cat");
  BOOST_TEST(m.jobs[3].where == "jobs[1]");
  BOOST_TEST(m.jobs[4].where == "jobs[2] (item 0)");
}

BOOST_AUTO_TEST_CASE(prompts_come_from_a_list_or_a_file_beside_the_manifest) {
  TempDir d;
  std::ofstream(d.path / "prompts.txt", std::ios::binary) << "a red fox\r\n\n   \nthe sea at night\nzürich\n";
  const Manifest m = Manifest::parse(
      with_jobs({{{"prompts", {{"file", "prompts.txt"}}}, {"seeds", {1, 2}}, {"output", "p{prompt}_s{seed}.exr"}}}),
      d.path / "m.json");
  BOOST_REQUIRE_EQUAL(m.jobs.size(), 6u);
  const std::vector<std::string> prompts = {"a red fox", "a red fox", "the sea at night", "the sea at night",
                                            "zürich", "zürich"};
  for (size_t i = 0; i < 6; ++i) BOOST_TEST(m.jobs[i].prompt == prompts[i]);
  BOOST_TEST(m.jobs[3].output.string() == "p1_s2.exr");  // prompt outermost, then seeds

  BOOST_TEST(contains(error_of(with_jobs({{{"prompts", {{"file", "absent.txt"}}}, {"output", "x{prompt}.exr"}}}),
                               d.path / "m.json"),
                      "jobs[0].prompts.file: cannot read prompts file"));
  // A symlink loop is named as one, not as a missing file.
  std::filesystem::create_symlink("loop-b.txt", d.path / "loop-a.txt");
  std::filesystem::create_symlink("loop-a.txt", d.path / "loop-b.txt");
  const std::string loop =
      error_of(with_jobs({{{"prompts", {{"file", "loop-a.txt"}}}, {"output", "x{prompt}.exr"}}}), d.path / "m.json");
  BOOST_TEST(contains(loop, "loop-a.txt': Too many levels of symbolic links"), loop);
  std::ofstream(d.path / "bad.txt", std::ios::binary) << "ok\ncaf\xE9\n";
  BOOST_TEST(contains(error_of(with_jobs({{{"prompts", {{"file", "bad.txt"}}}, {"output", "x{prompt}.exr"}}}),
                               d.path / "m.json"),
                      "line 2 is not valid UTF-8"));
}

BOOST_AUTO_TEST_CASE(a_wedge_is_every_combination_the_last_key_fastest) {
  const json posenc_a = {{"plugin", "org.genplug.dype"}, {"config", {{"method", "yarn"}}}};
  const Manifest m = Manifest::parse(
      with_jobs({{{"wedge", {{"guidance", {2.5, 3.5}}, {"steps", {4, 8}}, {"posenc", {posenc_a, "none"}}}},
                  {"output", "w{wedge:02}.exr"}}}),
      "m.json");
  BOOST_REQUIRE_EQUAL(m.jobs.size(), 8u);
  // keys in alphabetical order: guidance, posenc, steps (fastest)
  BOOST_TEST(*m.jobs[0].guidance == 2.5);
  BOOST_TEST(m.jobs[0].posenc->config["method"] == "yarn");
  BOOST_TEST(*m.jobs[0].steps == 4u);
  BOOST_TEST(*m.jobs[1].steps == 8u);
  BOOST_TEST(m.jobs[2].plain_rope);
  BOOST_TEST(*m.jobs[4].guidance == 3.5);
  BOOST_TEST(m.jobs[7].output.string() == "w07.exr");
}

BOOST_AUTO_TEST_CASE(a_wedged_plugin_is_named_where_the_wedge_gives_it) {
  // Messages about a wedged plugin (a wrong kind, a config its schema refuses) name the wedge's entry, not a
  // "jobs[0].posenc" the manifest does not have.
  const json dype = {{"plugin", "org.genplug.dype"}}, flowmatch = {{"plugin", "org.genplug.flowmatch"}};
  const Manifest m = Manifest::parse(
      with_jobs({{{"seeds", {1, 2}},
                  {"wedge", {{"posenc", {dype, dype, "none"}}, {"scheduler", {flowmatch, flowmatch}}}},
                  {"output", "w{index}.exr"}},
                 {{"scheduler", flowmatch}, {"posenc", dype}, {"refine", {{"width", 64}, {"height", 64}}},
                  {"output", "plain.exr"}}}),
      "m.json");
  BOOST_REQUIRE_EQUAL(m.jobs.size(), 13u);  // 2 seeds x 3 posencs x 2 schedulers, twice; then the plain job
  for (size_t k = 0; k < 12; ++k) {
    const size_t combination = k % 6;
    const size_t posenc = combination / 2, scheduler = combination % 2;  // the last key (scheduler) fastest
    BOOST_TEST(m.jobs[k].scheduler->where == "jobs[0].wedge.scheduler[" + std::to_string(scheduler) + "]");
    if (posenc < 2)
      BOOST_TEST(m.jobs[k].posenc->where == "jobs[0].wedge.posenc[" + std::to_string(posenc) + "]");
    else
      BOOST_TEST(m.jobs[k].plain_rope, k);
  }
  BOOST_TEST(m.jobs[12].scheduler->where == "jobs[1].scheduler");
  BOOST_TEST(m.jobs[12].posenc->where == "jobs[1].posenc");
  BOOST_TEST(m.jobs[12].refine->posenc->where == "jobs[1].posenc");  // the pass renders with the job's
}

BOOST_AUTO_TEST_CASE(pattern_errors_name_the_field) {
  auto job = [](const std::string& output) { return with_jobs({{{"seeds", {1, 2}}, {"output", output}}}); };
  BOOST_TEST(contains(error_of(job("x{sed}.exr")), "unknown field {sed}"));
  BOOST_TEST(contains(error_of(job("x{sed}.exr")), "jobs[0].output"));
  BOOST_TEST(contains(error_of(job("x{seed.exr")), "unclosed '{'"));
  BOOST_TEST(contains(error_of(job("x{seed}}.exr")), "unmatched '}'"));
  BOOST_TEST(contains(error_of(job("x{seed:4}.exr")), "the format must be 0N"));
  const Manifest m = Manifest::parse(job("{{lit}}_{seed}.exr"), "m.json");
  BOOST_TEST(m.jobs[1].output.string() == "{lit}_2.exr");
}

BOOST_AUTO_TEST_CASE(outputs_that_collide_are_refused_before_anything_runs) {
  // A batch whose pattern does not vary.
  std::string e = error_of(with_jobs({{{"seeds", {1, 2}}, {"output", "same.exr"}}}));
  BOOST_TEST(contains(e, "jobs[0] (item 1).output: \"same.exr\" is also the output of jobs[0] (item 0)"), e);
  // Two spellings of one file, through a symlinked folder.
  TempDir d;
  fs::create_directories(d.path / "real");
  fs::create_directory_symlink(d.path / "real", d.path / "link");
  e = error_of(with_jobs({{{"output", (d.path / "real" / "a.exr").string()}},
                          {{"output", (d.path / "link" / "./a.exr").string()}}}));
  BOOST_TEST(contains(e, "is also the output of jobs[0] (\"" + (d.path / "real" / "a.exr").string() + "\")"), e);
}

// The files a run reads, each once, resolved, with the field that names it (the pipeline refuses an output to
// be overwritten that is one of them); and every work item's output, resolved, before any shard is chosen.
BOOST_AUTO_TEST_CASE(the_runs_inputs_and_outputs_are_known_resolved) {
  TempDir d;
  const fs::path plate = d.path / "plate.exr", lora = d.path / "style.safetensors", manifest = d.path / "m.json";
  std::ofstream(d.path / "p.txt") << "a\nb\n";
  std::ofstream(manifest) << "{}";
  const Manifest m = Manifest::parse(
      with_jobs({{{"init_image", (d.path / "." / "plate.exr").string()}, {"output", (d.path / "a.exr").string()}},
                 {{"loras", {{{"path", lora.string()}}}}, {"prompts", {{"file", "p.txt"}}},  // beside the manifest
                  {"output", (d.path / "b{index}.exr").string()}}}),
      manifest);
  const std::map<fs::path, std::string> inputs = {{manifest, "the manifest"},
                                                  {plate, "jobs[0].init_image"},
                                                  {lora, "jobs[1] (item 0).loras[0].path"},
                                                  {d.path / "p.txt", "jobs[1].prompts.file"}};
  BOOST_TEST(m.inputs.size() == inputs.size());
  for (const auto& [path, where] : inputs) {
    const auto it = m.inputs.find(fs::weakly_canonical(path));
    BOOST_TEST_REQUIRE((it != m.inputs.end()), path);
    BOOST_TEST(it->second == where);  // the first item that reads it
  }
  BOOST_TEST(m.outputs.size() == 3u);
  BOOST_TEST(m.outputs.at(fs::weakly_canonical(d.path / "b2.exr")) == "jobs[1] (item 1)");
}

BOOST_AUTO_TEST_CASE(batch_keys_exclude_their_single_forms) {
  BOOST_TEST(contains(error_of(with_jobs({{{"seed", 1}, {"seeds", {1}}, {"output", "a{seed}.exr"}}})),
                      "give \"seed\" or \"seeds\", not both"));
  BOOST_TEST(contains(error_of(with_jobs({{{"prompt", "x"}, {"prompts", {"y"}}, {"output", "a.exr"}}})),
                      "give \"prompt\" or \"prompts\", not both"));
  BOOST_TEST(contains(error_of(with_jobs({{{"steps", 4}, {"wedge", {{"steps", {4, 8}}}}, {"output", "a{wedge}.exr"}}})),
                      "\"steps\" is both set and wedged"));
  BOOST_TEST(contains(error_of(with_jobs({{{"wedge", json::object()}, {"output", "a.exr"}}})), "names no setting"));
  BOOST_TEST(contains(error_of(with_jobs({{{"seeds", {{"from", 1}, {"count", 0}}}, {"output", "a{seed}.exr"}}})),
                      "jobs[0].seeds"));
  BOOST_TEST(contains(error_of(with_jobs({{{"seeds", {{"from", 1}, {"count", 1000}}},
                                           {"wedge", {{"guidance", json(std::vector<double>(1001, 1.0))}}},
                                           {"output", "a{index}.exr"}}})),
                      "more than 1000000 work items"));
}

BOOST_AUTO_TEST_CASE(shards_partition_the_items_round_robin) {
  const Manifest m = Manifest::parse(with_jobs({{{"seeds", {{"from", 0}, {"count", 11}}}, {"output", "i{index}.exr"}}}),
                                     "m.json");
  for (uint64_t n = 1; n <= 13; ++n) {
    std::multiset<size_t> seen;
    for (uint64_t i = 0; i < n; ++i)
      for (const Job& j : genplug::host::select_shard(m.jobs, {i, n})) {
        BOOST_TEST(j.index % n == i);
        seen.insert(j.index);
      }
    BOOST_TEST(seen.size() == m.jobs.size(), "N = " << n);  // every item exactly once
    BOOST_TEST(std::set<size_t>(seen.begin(), seen.end()).size() == m.jobs.size());
  }
}

BOOST_AUTO_TEST_CASE(shard_arguments_and_slurm_arrays) {
  const Shard s = genplug::host::parse_shard("2/5");
  BOOST_TEST(s.index == 2u);
  BOOST_TEST(s.count == 5u);
  for (const char* bad : {"5/5", "1/0", "x/2", "1", "-1/3", "1/3/4", ""})
    BOOST_CHECK_EXCEPTION(genplug::host::parse_shard(bad), HostError,
                          [](const HostError& e) { return e.exit_code() == 2; });

  auto env_of = [](std::map<std::string, std::string> vars) {
    return [vars](const char* name) -> const char* {
      const auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  };
  BOOST_TEST(!genplug::host::shard_from_slurm(env_of({})).has_value());
  auto a = genplug::host::shard_from_slurm(
      env_of({{"SLURM_ARRAY_TASK_COUNT", "4"}, {"SLURM_ARRAY_TASK_ID", "12"}, {"SLURM_ARRAY_TASK_MIN", "10"}}));
  BOOST_TEST((a && a->index == 2 && a->count == 4));
  a = genplug::host::shard_from_slurm(env_of({{"SLURM_ARRAY_TASK_COUNT", "3"}, {"SLURM_ARRAY_TASK_ID", "8"},
                                              {"SLURM_ARRAY_TASK_MIN", "0"}, {"SLURM_ARRAY_TASK_STEP", "4"}}));
  BOOST_TEST((a && a->index == 2 && a->count == 3));
  // --array=1,4,9 is no evenly stepped array: the CLI asks for --shard.
  BOOST_CHECK_EXCEPTION(
      genplug::host::shard_from_slurm(env_of({{"SLURM_ARRAY_TASK_COUNT", "3"}, {"SLURM_ARRAY_TASK_ID", "9"},
                                              {"SLURM_ARRAY_TASK_MIN", "1"}})),
      HostError, [](const HostError& e) { return contains(e.what(), "--shard"); });
}

BOOST_AUTO_TEST_CASE(prompts_files_that_are_not_text_are_refused_without_blocking) {
  TempDir d;
  auto job = [](const std::string& file) { return with_jobs({{{"prompts", {{"file", file}}}, {"output", "p{prompt}.exr"}}}); };
  BOOST_REQUIRE(::mkfifo((d.path / "fifo").c_str(), 0600) == 0);
  BOOST_TEST(contains(error_of(job("fifo"), d.path / "m.json"), "is not a regular file"));
  fs::create_directories(d.path / "folder");
  BOOST_TEST(contains(error_of(job("folder"), d.path / "m.json"), "is not a regular file"));
  std::ofstream(d.path / "nul.txt", std::ios::binary) << std::string("ok\na\0b\n", 7);
  BOOST_TEST(contains(error_of(job("nul.txt"), d.path / "m.json"), "line 2 contains a NUL byte"));
  // What Windows' editors save as "Unicode": named, not blamed on its NUL bytes.
  for (const std::string bom : {"\xFF\xFE", "\xFE\xFF"}) {
    std::ofstream(d.path / "utf16.txt", std::ios::binary) << bom << std::string("a\0 \0d\0o\0g\0\n\0", 12);
    BOOST_TEST(contains(error_of(job("utf16.txt"), d.path / "m.json"), "utf16.txt' is UTF-16; save it as UTF-8"));
  }
  std::ofstream(d.path / "long.txt", std::ios::binary) << std::string(70000, 'x') << "\n";
  BOOST_TEST(contains(error_of(job("long.txt"), d.path / "m.json"), "line 1 is over 64 KiB"));
  std::ofstream(d.path / "bom.txt", std::ios::binary) << "\xEF\xBB\xBF" "first\nsecond\n";
  const Manifest m = Manifest::parse(job("bom.txt"), d.path / "m.json");
  BOOST_TEST(m.jobs[0].prompt == "first");
  // NUL inside a prompt or an output written in the manifest itself.
  BOOST_TEST(contains(error_of(with_jobs({{{"prompt", std::string("a\0b", 3)}, {"output", "x.exr"}}})),
                      "jobs[0].prompt: contains a NUL character"));
  BOOST_TEST(contains(error_of(with_jobs({{{"output", std::string("first.exr\0second.exr", 20)}}})),
                      "jobs[0].output: contains a NUL character"));
  // The EXR owner is a header string too, in the manifest's exr settings or a job's.
  json doc = with_jobs({{{"output", "x.exr"}, {"exr", {{"owner", std::string("a\0b", 3)}}}}});
  BOOST_TEST(contains(error_of(doc), "m.json: jobs[0].exr.owner: contains a NUL character"));
  doc["jobs"][0].erase("exr");
  doc["exr"] = {{"owner", std::string("a\0b", 3)}};
  BOOST_TEST(contains(error_of(doc), "m.json: exr.owner: contains a NUL character"));
}

BOOST_AUTO_TEST_CASE(older_slurm_arrays_without_a_count_use_min_max_and_step) {
  auto env_of = [](std::map<std::string, std::string> vars) {
    return [vars](const char* name) -> const char* {
      const auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  };
  auto a = genplug::host::shard_from_slurm(
      env_of({{"SLURM_ARRAY_TASK_ID", "7"}, {"SLURM_ARRAY_TASK_MIN", "3"}, {"SLURM_ARRAY_TASK_MAX", "9"}, {"SLURM_ARRAY_TASK_STEP", "2"}}));
  BOOST_TEST((a && a->index == 2 && a->count == 4));
  // COUNT and MAX that disagree, or an ID alone, are refused rather than guessed.
  BOOST_CHECK_THROW(genplug::host::shard_from_slurm(env_of({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_MIN", "0"},
                                                            {"SLURM_ARRAY_TASK_MAX", "9"}, {"SLURM_ARRAY_TASK_COUNT", "2"}})),
                    HostError);
  BOOST_CHECK_THROW(genplug::host::shard_from_slurm(env_of({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_MIN", "0"}})),
                    HostError);
}

// A signal while a batch expands (a million items take tens of seconds) stops the expansion: with the cancel flag
// set, parse throws HostError(cancelled) naming the item it stopped at; unset, the same batch parses.
BOOST_AUTO_TEST_CASE(a_set_cancel_flag_stops_the_expansion) {
  const json doc = with_jobs({{{"seeds", {{"from", 0}, {"count", 3000}}}, {"output", "o_{index}.exr"}}});
  std::atomic<bool> cancel{true};
  try {
    (void)Manifest::parse(doc, "m.json", {}, &cancel);
    BOOST_ERROR("a set cancel flag did not stop the expansion");
  } catch (const HostError& e) {
    BOOST_TEST(int(e.kind()) == int(genplug::host::ErrorKind::cancelled));
    BOOST_TEST(contains(e.what(), "m.json: jobs[0] (item 0): cancelled while expanding the manifest"), e.what());
  }
  cancel = false;
  BOOST_TEST(Manifest::parse(doc, "m.json", {}, &cancel).jobs.size() == 3000u);
}
