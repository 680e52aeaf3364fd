// The genplug CLI as a user drives it: exit codes, one-line errors naming the path, no output file on any
// failure or cancel, plugin listing and validation.
#define BOOST_TEST_MODULE cli
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <set>
#include <sstream>

#include <sys/stat.h>

#include <genplug/host/exr_writer.hpp>
#include <genplug/version.h>

#include "golden.hpp"
#include "png_read.hpp"
#include "sanitizer_share.hpp"
#include "subprocess.hpp"

namespace fs = std::filesystem;
using genplug::test::run_process;
using nlohmann::json;

namespace {

const std::string kGenplug = GENPLUG_BINARY_DIR "/bin/genplug";

// A fresh folder per test case.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("genplug-cli-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int c = 0;
    return c;
  }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

// The embedded default pipeline (random tiny FLUX, flow matching, DyPE), small and fast.
json tiny_manifest(const fs::path& out, int steps = 2) {
  json m = genplug::test::read_json(fs::path(GENPLUG_SOURCE_DIR) / "samples" / "default.json");
  m["jobs"] = json::array({{{"prompt", "a red square"}, {"width", 64}, {"height", 64}, {"steps", steps},
                            {"seed", 1}, {"output", out.string()}}});
  return m;
}

fs::path write(const fs::path& p, const json& j) {
  std::ofstream(p) << j.dump(2);
  return p;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string mini_transformer() { return std::string(GENPLUG_SOURCE_DIR) + "/models/mini/transformer.safetensors"; }

// genplug with `args` under ulimit -n `descriptors`, what the test runner left open closed first: standard input,
// output and error take three, genplug's copy of standard output (descriptor 1 then goes to stderr, so that a
// plugin's prints cannot mix with the product) the fourth.
// Not under the sanitizers: their runtime needs descriptors of its own (UBSan's vptr check, unable to read the
// process's maps, reports a false error in the first stream genplug builds).
struct OutsideSanitizers {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result r(!genplug::test::under_address_sanitizer);
    if (!r) r.message() << "SKIPPED under the sanitizers: their runtime needs file descriptors of its own";
    return r;
  }
};

genplug::test::ProcessResult run_with_descriptors(int descriptors, const std::vector<std::string>& args) {
  const std::string close_and_limit =
      "for fd in $(ls /proc/$$/fd); do [ \"$fd\" -gt 2 ] && eval \"exec $fd>&-\" 2> /dev/null; done; "
      "ulimit -n " + std::to_string(descriptors) + " && exec \"$@\"";
  std::vector<std::string> argv = {"/bin/bash", "-c", close_and_limit, "bash", kGenplug};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv);
}

}  // namespace

BOOST_AUTO_TEST_CASE(version_and_help) {
  auto r = run_process({kGenplug, "--version"});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(contains(r.out, std::string("genplug ") + GENPLUG_VERSION));
  r = run_process({kGenplug, "run", "--help"});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(contains(r.out, "130 cancelled"));
  // Every command's help names the global options, which it does not list itself.
  for (const char* command : {"run", "validate", "posenc", "encode"}) {
    r = run_process({kGenplug, command, "--help"});
    BOOST_TEST(contains(r.out, "Global options, before or after the command: --plugin-path PATH"), command);
  }
  r = run_process({kGenplug, "frobnicate"});
  BOOST_TEST(r.exit_code == 2);
}

// A mistyped --plugin-path is a usage error naming it, not an empty search that ends in "plugin not found".
BOOST_AUTO_TEST_CASE(a_plugin_path_that_does_not_exist_is_a_usage_error) {
  const TempDir d;
  const std::string absent = (d.path / "no-such-folder").string();
  const auto r = run_process({kGenplug, "--plugin-path", absent, "plugins"});
  BOOST_TEST(r.exit_code == 2, r.err);
  BOOST_TEST(contains(r.err, "--plugin-path: Path does not exist: " + absent), r.err);
  BOOST_TEST(r.out.empty(), r.out);
  BOOST_TEST(run_process({kGenplug, "--plugin-path", d.path.string(), "plugins"}).exit_code == 0);
  // A device or FIFO is no plugin library: refused, not skipped in silence (validate had passed /dev/zero).
  BOOST_REQUIRE(::mkfifo((d.path / "fifo.so").c_str(), 0600) == 0);
  for (const std::string& bad : {std::string("/dev/zero"), (d.path / "fifo.so").string()}) {
    auto v = run_process({kGenplug, "validate", bad});
    BOOST_TEST(v.exit_code == 2, v.out << v.err);
    BOOST_TEST(contains(v.err, "library: '" + bad + "' is not a plugin library (a regular .so file)"), v.err);
    v = run_process({kGenplug, "--plugin-path", bad, "plugins"});
    BOOST_TEST(v.exit_code == 2, v.out << v.err);
    BOOST_TEST(contains(v.err, "--plugin-path: '" + bad + "' is not a folder or a plugin library"), v.err);
  }
}

// The global options may follow the command too, one path per --plugin-path; --help shows one path each (CLI11
// had printed "PATH:PATH", which reads as a colon list that the option refuses). A file that is no library is
// rejected with the loader's reason alone (boost::dll had appended "Bad file descriptor", an unrelated errno).
BOOST_AUTO_TEST_CASE(global_options_follow_the_command_and_a_bad_library_says_why) {
  const TempDir d;
  std::ofstream(d.path / "libgenplug_junk.so") << "not an ELF file";
  auto r = run_process({kGenplug, "plugins", "--plugin-path", d.path.string(), "-q"});
  BOOST_TEST(r.exit_code == 0, r.err);
  const std::string junk = (d.path / "libgenplug_junk.so").string();
  BOOST_TEST(contains(r.out, "rejected: " + junk + ": cannot load library: " + junk + ": file too short\n"), r.out);
  BOOST_TEST(!contains(r.out, "Bad file descriptor"), r.out);
  // A plugin not found names the libraries that could not be loaded, where -q hides the scan's warnings.
  r = run_process({kGenplug, "-q", "run", (fs::path(GENPLUG_SOURCE_DIR) / "samples" / "default.json").string(),
                   "--plugin-path", d.path.string(), "--set", "posenc.plugin=org.example.absent"});
  BOOST_TEST(r.exit_code == 4, r.err);
  BOOST_TEST(contains(r.err, "posenc.plugin: no plugin 'org.example.absent' found (known posenc plugins: "), r.err);
  BOOST_TEST(contains(r.err, "; not loaded: " + junk + ": cannot load library: "), r.err);
  r = run_process({kGenplug, "plugins", "--plugin-path", (d.path / "absent").string()});
  BOOST_TEST(r.exit_code == 2, r.err);
  BOOST_TEST(contains(r.err, "--plugin-path: Path does not exist"), r.err);
  // One path per --plugin-path: the word after it is the command's again (it had taken every word as a path).
  const std::string absent = (d.path / "absent.safetensors").string();
  r = run_process({kGenplug, "inspect", "--plugin-path", d.path.string(), absent});
  BOOST_TEST(r.exit_code == 5, r.err);
  BOOST_TEST(contains(r.err, absent + ": no such file or folder"), r.err);
  // An empty value after '=' is refused as such; CLI11 had taken the next word as the value.
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{kGenplug, "--plugin-path=", "plugins"},
        std::vector<std::string>{kGenplug, "schedule", "--plugin=", "org.genplug.flowmatch", "--steps", "4",
                                 "--image-tokens", "16"}}) {
    r = run_process(argv);
    BOOST_TEST(r.exit_code == 2, r.err);
    BOOST_TEST(contains(r.err, "error: " + argv.at(argv.size() == 3 ? 1 : 2) + ": the value after '=' is empty"), r.err);
    BOOST_TEST(r.out.empty(), r.out);
  }
  r = run_process({kGenplug, "schedule", "--plugin=org.genplug.flowmatch", "--steps=4", "--image-tokens", "16"});
  BOOST_TEST(r.exit_code == 0, r.err);
  // A word that is no option of genplug's stays a value: a prompt "--x=".
  r = run_process({kGenplug, "encode", "--random", "--max-length", "8", "--context-dim", "16", "--vec-dim", "8", "-p",
                   "--x=", "-o", (d.path / "x.safetensors").string()});
  BOOST_TEST(r.exit_code == 0, r.err);
  r = run_process({kGenplug, "--plugin-path", d.path.string(), d.path.string(), "plugins"});
  BOOST_TEST(r.exit_code == 2, r.err);
  BOOST_TEST(contains(r.err, "not expected: " + d.path.string()), r.err);
  r = run_process({kGenplug, "plugins", "--bogus"});
  BOOST_TEST(r.exit_code == 2, r.err);
  BOOST_TEST(contains(r.err, "not expected: --bogus"), r.err);
  // A line without a command names the word that is none, and the commands (CLI11 said "A subcommand is required").
  r = run_process({kGenplug, "-q", "--plugin-path", d.path.string(), "frobnicate", "m.json"});
  BOOST_TEST(r.exit_code == 2, r.err);
  BOOST_TEST(contains(r.err, "genplug: error: 'frobnicate' is no command (commands: "), r.err);
  BOOST_TEST((contains(r.err, "run, ") || contains(r.err, ", run")), r.err);
  // Help wins over that, and is itself output that must land.
  r = run_process({kGenplug, "frobnicate", "--help"});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(contains(r.out, "Exit codes:"), r.out);
  r = run_process({"/bin/sh", "-c", "exec '" + kGenplug + "' --help > /dev/full"});
  BOOST_TEST(r.exit_code == 75, r.err);
  r = run_process({kGenplug, "--help"});
  BOOST_TEST(contains(r.out, "--plugin-path PATH ..."), r.out);
  BOOST_TEST(!contains(r.out, "PATH:PATH"), r.out);
}

BOOST_AUTO_TEST_CASE(plugins_lists_every_kind) {
  auto r = run_process({kGenplug, "plugins", "--json"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  json j = json::parse(r.out);
  std::set<std::string> kinds, ids;
  for (const auto& p : j["plugins"]) {
    kinds.insert(p["kind"].get<std::string>());
    ids.insert(p["id"].get<std::string>());
  }
  BOOST_TEST(kinds == std::set<std::string>({"inspector", "model", "posenc", "scheduler"}));
  BOOST_TEST(ids.count("org.genplug.dype") == 1u);
  BOOST_TEST(ids.count("org.genplug.flowmatch") == 1u);
  BOOST_TEST(ids.count("org.genplug.flux") == 1u);
  BOOST_TEST(ids.count("org.genplug.flux.inspect") == 1u);
  // Each with the schema its config is checked against, and the ABI it was built for.
  for (const auto& p : j["plugins"]) {
    BOOST_TEST(p.at("config_schema").is_object(), p.dump());
    BOOST_TEST(p.at("abi").get<std::string>() ==
                   std::to_string(GENPLUG_ABI_MAJOR) + "." + std::to_string(GENPLUG_ABI_MINOR), p.dump());
    if (p["id"] == "org.genplug.dype") {
      const json& methods = p["config_schema"].at("properties").at("method").at("enum");
      BOOST_TEST((std::find(methods.begin(), methods.end(), "dy-yarn") != methods.end()), methods.dump());
    }
  }
  r = run_process({kGenplug, "plugins"});  // the table: one row per plugin, its kind spelled out
  BOOST_TEST(contains(r.out, "org.genplug.flux.inspect  inspector"), r.out);  // columns as wide as the longest
}

BOOST_AUTO_TEST_CASE(validate_passes_our_plugins_and_fails_a_broken_one) {
  for (const char* lib : {"libgenplug_dype.so", "libgenplug_flowmatch.so"}) {
    auto r = run_process({kGenplug, "validate", (genplug::test::plugin_build_dir() / lib).string()});
    BOOST_TEST(r.exit_code == 0, lib << ":\n" << r.out << r.err);
    BOOST_TEST(!contains(r.out, "FAIL"), r.out);
    if (std::string(lib) == "libgenplug_dype.so") {
      BOOST_TEST(contains(r.out, "PASS posenc org.genplug.dype: compute writes every frequency and amplitude"), r.out);
      BOOST_TEST(contains(r.out, "PASS posenc org.genplug.dype: get_extension is filled and answers NULL for an "
                                 "unknown id"),
                 r.out);
      for (const char* refused : {"t = -0.25", "t = 1.5", "t = NaN", "a target extent of 0"})
        BOOST_TEST(contains(r.out, std::string("PASS posenc org.genplug.dype: compute refuses ") + refused +
                                       " with GENPLUG_E_INVALID_ARGUMENT"),
                   r.out);
    }
    BOOST_TEST(contains(r.out, "empty config text rejected with a message"), r.out);
  }
  auto r = run_process({kGenplug, "validate", GENPLUG_BINARY_DIR "/tests/fixtures/libwrong_abi.so"});
  BOOST_TEST(r.exit_code == 4);
  BOOST_TEST(contains(r.out, "ABI mismatch"));
  // The minimal C fixture leaves its config to the host: empty text is "{}" to it, which entry.h forbids. Its
  // NULL get_extension, which the reference host tolerates, fails too (docs/abi.md: a plugin fills every function).
  r = run_process({kGenplug, "validate", GENPLUG_BINARY_DIR "/tests/fixtures/libminimal_posenc.so"});
  BOOST_TEST(r.exit_code == 4, r.out << r.err);
  BOOST_TEST(contains(r.out, "FAIL posenc org.genplug.test.minimal: empty config text: accepted"), r.out);
  BOOST_TEST(contains(r.out, "FAIL posenc org.genplug.test.minimal: get_extension is filled and answers NULL for "
                             "an unknown id: it is NULL"),
             r.out);
  BOOST_TEST(contains(r.out, "\n1 plugin, 5 failures\n"), r.out);
}

BOOST_AUTO_TEST_CASE(bad_manifests_exit_with_their_code_name_the_path_and_write_nothing) {
  TempDir d;
  const fs::path out = d.path / "out.exr";
  struct Case {
    std::string what;
    std::function<void(json&)> edit;
    int code;
    std::vector<std::string> fragments;
    std::vector<std::string> extra_args = {};
  };
  const std::vector<Case> cases = {
      {"missing model", [](json& m) { m.erase("model"); }, 3, {"m.json", "\"model\""}},
      {"wrong type", [](json& m) { m["jobs"][0]["seed"] = "one"; }, 3, {"m.json", "jobs[0].seed"}},
      {"unknown key", [](json& m) { m["jobs"][0]["sead"] = 1; }, 3, {"m.json", "jobs[0]", "sead"}},
      {"unknown plugin", [](json& m) { m["posenc"]["plugin"] = "org.example.nope"; }, 4,
       {"m.json", "posenc.plugin", "org.example.nope"}},
      {"plugin of the wrong kind", [](json& m) { m["scheduler"]["plugin"] = "org.genplug.dype"; }, 3,
       {"scheduler.plugin", "posenc plugin"}},
      {"bad plugin config", [](json& m) { m["posenc"]["config"] = {{"method", "dy-yarm"}}; }, 3,
       {"m.json", "posenc.config.method", "dy-yarm"}},
      {"mistyped text encoder key", [](json& m) { m["model"]["config"]["text"] = {{"random", true}, {"t5_tokenzier", "t"}}; },
       3, {"m.json", "model.config.text", "t5_tokenzier", "did you mean \"t5_tokenizer\""}},
      {"override with an empty key", [](json&) {}, 3, {"override 'jobs.0.=1'", "empty"}, {"--set", "jobs.0.=1"}},
      {"width not a multiple of 16", [](json& m) { m["jobs"][0]["width"] = 70; }, 3,
       {"jobs[0].width", "64 or 80"}},
      {"output folder missing", [&](json& m) { m["jobs"][0]["output"] = (d.path / "no" / "x.exr").string(); }, 6,
       {"jobs[0].output", "does not exist"}},
      {"output folder a file", [&](json& m) { m["jobs"][0]["output"] = (d.path / "m.json" / "x.exr").string(); }, 6,
       {"jobs[0].output", "m.json' is not a folder"}},
      {"bad override", [](json&) {}, 3, {"override", "jobs.3.seed"}, {"--set", "jobs.3.seed=2"}},
      {"override to a bad value", [](json&) {}, 3, {"jobs[0].steps"}, {"--set", "jobs.0.steps=0"}},
      {"top-level output (renamed to exr)", [](json& m) { m["output"] = m["exr"]; }, 3,
       {"m.json: output: renamed to \"exr\" in genplug 0.2 (ABI 1.1); write \"exr\": {...}"}},
      {"override of output (renamed to exr)", [](json&) {}, 3,
       {"m.json: override 'output.pixel=float': output: renamed to \"exr\"", "write exr.pixel=float"},
       {"--set", "output.pixel=float"}},
      {"not JSON", [](json&) {}, 3, {"m.json", "not valid JSON"}, {"__raw__"}},
      // Weights: a file that reads but is not the model it must be is the config's mistake (3), the VAE's as the
      // transformer's; one that cannot be read is the plugin's failure to create (4).
      {"vae file that holds no autoencoder", [](json& m) { m["model"]["config"]["vae"] = mini_transformer(); }, 3,
       {"vae: ", "no autoencoder found"}},
      {"transformer file that holds an autoencoder", [](json& m) {
         m["model"]["config"]["transformer"] = std::string(GENPLUG_SOURCE_DIR) + "/models/mini/vae/ae.safetensors";
       }, 3, {"transformer: "}},
      {"vae file missing", [&](json& m) { m["model"]["config"]["vae"] = (d.path / "none.safetensors").string(); }, 4,
       {"none.safetensors", "cannot open"}},
  };
  for (const auto& c : cases) {
    json m = tiny_manifest(out);
    c.edit(m);
    const fs::path mp = d.path / "m.json";
    std::vector<std::string> args = {kGenplug, "run", mp.string()};
    if (!c.extra_args.empty() && c.extra_args[0] == "__raw__")
      std::ofstream(mp) << "{ \"model\": ";
    else {
      write(mp, m);
      args.insert(args.end(), c.extra_args.begin(), c.extra_args.end());
    }
    auto r = run_process(args);
    BOOST_TEST_MESSAGE(c.what << " -> " << r.exit_code << " " << r.err);
    BOOST_TEST(r.exit_code == c.code, c.what << ": exit " << r.exit_code << "\n" << r.err);
    for (const auto& f : c.fragments) BOOST_TEST(contains(r.err, f), c.what << ": expected '" << f << "' in " << r.err);
    BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') <= 3, c.what << ": error is not short: " << r.err);
    BOOST_TEST(d.listing() == std::vector<std::string>{"m.json"}, c.what << ": left files behind");
  }
}

BOOST_AUTO_TEST_CASE(an_existing_output_is_kept_unless_forced) {
  TempDir d;
  const fs::path out = d.path / "out.exr";
  std::ofstream(out) << "precious";
  const fs::path mp = write(d.path / "m.json", tiny_manifest(out, 1));
  auto r = run_process({kGenplug, "-q", "run", mp.string()});
  BOOST_TEST(r.exit_code == 6, r.err);
  BOOST_TEST(contains(r.err, "exists"));
  std::ifstream in(out);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  BOOST_TEST(content == "precious");
  r = run_process({kGenplug, "-q", "run", mp.string(), "--force"});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(fs::file_size(out) > 100u);
}

// Past a file size limit (ulimit -f, a farm's RLIMIT_FSIZE) the write fails as an output error naming the work item
// and the file, and leaves nothing behind: SIGXFSZ had killed genplug mid-write (exit 153, a core dump).
BOOST_AUTO_TEST_CASE(a_file_size_limit_fails_the_job_cleanly) {
  TempDir d;
  const fs::path out = d.path / "out.exr";
  const fs::path mp = write(d.path / "m.json", tiny_manifest(out, 1));
  BOOST_REQUIRE(fs::exists("/usr/bin/prlimit"));  // util-linux, essential in Debian
  auto r = run_process({"/usr/bin/prlimit", "--fsize=2048", kGenplug, "-q", "run", mp.string()});
  BOOST_TEST(r.exit_code == 6, r.err);
  BOOST_TEST(contains(r.err, mp.string() + ": jobs[0]"), r.err);
  BOOST_TEST(contains(r.err, "cannot write output '" + out.string() + "'"), r.err);
  BOOST_TEST(contains(r.err, "File too large"), r.err);
  BOOST_TEST(d.listing() == std::vector<std::string>{"m.json"}, boost::test_tools::per_element());
}

// A process out of file descriptors cannot open its manifest: the limit is named, and the exit is 5, the process's
// condition (it had been 3, "invalid manifest", which sends the user to a file that is fine). validate's probes
// name it too (ulimit -u likewise, which binds only a user other than root: checked by hand).
BOOST_AUTO_TEST_CASE(a_descriptor_limit_is_named_and_not_blamed_on_the_manifest,
                     *boost::unit_test::precondition(OutsideSanitizers{})) {
  TempDir d;
  const fs::path mp = write(d.path / "m.json", tiny_manifest(d.path / "out.exr", 1));
  auto r = run_with_descriptors(4, {"-q", "run", mp.string()});  // the manifest finds none left
  BOOST_TEST(r.exit_code == 5, r.err);
  BOOST_TEST(contains(r.err, mp.string() + ": cannot read manifest: it cannot be opened: "), r.err);
  BOOST_TEST(contains(r.err, "(ulimit -n is 4)"), r.err);
  BOOST_TEST(d.listing() == std::vector<std::string>{"m.json"}, boost::test_tools::per_element());
  // An option's file likewise: 5, not the usage error a file's own fault is.
  const fs::path config = write(d.path / "config.json", json{{"sampler", "euler"}});
  r = run_with_descriptors(4, {"schedule", "--config", "@" + config.string(), "--steps", "4", "--image-tokens", "256"});
  BOOST_TEST(r.exit_code == 5, r.err);
  BOOST_TEST(contains(r.err, "--config: cannot read '" + config.string() + "': it cannot be opened: "), r.err);
  BOOST_TEST(contains(r.err, "(ulimit -n is 4)"), r.err);
  // validate's probes need a pipe each: a limit they cannot get one under is named too.
  r = run_with_descriptors(5, {"validate", (genplug::test::plugin_build_dir() / "libgenplug_dype.so").string()});
  BOOST_TEST(r.exit_code == 5, r.err);
  BOOST_TEST(contains(r.err, "pipe: Too many open files (ulimit -n is 5)"), r.err);
}

// An output that is a symbolic link is rendered through it (--force replaces the file it names; the link stays),
// and the folder checked before rendering is that file's: a link into /proc, where nothing can be created, is
// refused before anything renders.
BOOST_AUTO_TEST_CASE(a_linked_output_is_rendered_through_its_link) {
  TempDir d;
  fs::create_directory(d.path / "renders");
  std::ofstream(d.path / "renders" / "v1.exr") << "precious";
  const fs::path link = d.path / "latest.exr";
  fs::create_symlink(fs::path("renders") / "v1.exr", link);
  const fs::path mp = write(d.path / "m.json", tiny_manifest(link, 1));
  auto r = run_process({kGenplug, "-q", "run", mp.string()});
  BOOST_TEST(r.exit_code == 6, r.err);
  BOOST_TEST(fs::file_size(d.path / "renders" / "v1.exr") == 8u);
  r = run_process({kGenplug, "-q", "run", mp.string(), "--force"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  BOOST_TEST(fs::is_symlink(fs::symlink_status(link)));
  BOOST_TEST(fs::file_size(d.path / "renders" / "v1.exr") > 100u);
  BOOST_TEST(d.listing() == (std::vector<std::string>{"latest.exr", "m.json", "renders"}));

  const fs::path into_proc = d.path / "proc.exr";
  fs::create_symlink("/proc/version", into_proc);
  r = run_process({kGenplug, "run", write(d.path / "m.json", tiny_manifest(into_proc, 1)).string(), "--force"});
  BOOST_TEST(r.exit_code == 6, r.err);
  BOOST_TEST(contains(r.err, (d.path / "m.json").string() + ": jobs[0].output"), r.err);
  BOOST_TEST(contains(r.err, "'/proc'"), r.err);
  BOOST_TEST(!contains(r.err, "eval "), "it rendered before refusing");
  BOOST_TEST(fs::is_symlink(fs::symlink_status(into_proc)));

  // With previews, the preview's folder is checked too: beside the output's link, or what a linked preview names.
  // A preview linked to a FIFO is refused before rendering, and the FIFO stays.
  BOOST_REQUIRE(::mkfifo((d.path / "fifo").c_str(), 0600) == 0);
  fs::create_directory(d.path / "shots");
  fs::create_symlink(fs::path("..") / "renders" / "v1.exr", d.path / "shots" / "latest.exr");
  fs::create_symlink(fs::path("..") / "fifo", d.path / "shots" / "latest.png");
  const fs::path shot = d.path / "shots" / "latest.exr";
  r = run_process({kGenplug, "run", write(d.path / "m.json", tiny_manifest(shot, 1)).string(), "--force", "--preview"});
  BOOST_TEST(r.exit_code == 6, r.err);
  BOOST_TEST(contains(r.err, "jobs[0].output (its PNG preview): cannot write output '" +
                                 (d.path / "shots" / "latest.png").string() + "': it is not a regular file"),
             r.err);
  BOOST_TEST(!contains(r.err, "eval "), "it rendered before refusing");
  BOOST_TEST(fs::is_fifo(d.path / "fifo"));

  // A FIFO or a folder in the preview's own place, or a preview name longer than 255 bytes, likewise: they had
  // passed the folder's check and cost the preview, with a warning, after the render.
  BOOST_REQUIRE(::mkfifo((d.path / "piped.png").c_str(), 0600) == 0);
  fs::create_directory(d.path / "folder.png");
  const std::string long_name(255, 'x');  // a valid output name; its preview's, with ".png", is not
  const std::pair<std::string, std::string> previews[] = {
      {"piped.exr", "'" + (d.path / "piped.png").string() + "': it is not a regular file"},
      {"folder.exr", "'" + (d.path / "folder.png").string() + "': it is a folder"},
      {long_name, "the file name is longer than 255 bytes"}};
  for (const auto& [output, why] : previews) {
    r = run_process({kGenplug, "run", write(d.path / "m.json", tiny_manifest(d.path / output, 1)).string(), "--preview"});
    BOOST_TEST(r.exit_code == 6, r.err);
    BOOST_TEST(contains(r.err, "jobs[0].output (its PNG preview): " + why), r.err);
    BOOST_TEST(!contains(r.err, "eval "), "it rendered before refusing");
  }
  BOOST_TEST(fs::is_fifo(d.path / "piped.png"));
}

BOOST_AUTO_TEST_CASE(ctrl_c_during_sampling_exits_130_and_leaves_no_file) {
  TempDir d;
  const fs::path out = d.path / "out.exr";
  const fs::path mp = write(d.path / "m.json", tiny_manifest(out, 200));
  auto r = run_process({kGenplug, "run", mp.string()},
                       [](const std::string& err) { return contains(err, "eval 2/"); });
  BOOST_TEST(r.exit_code == 130, r.err);
  BOOST_TEST(contains(r.err, "cancelled"));
  BOOST_TEST(!contains(r.err, "eval 200/"), "sampling ran to the end");
  BOOST_TEST(d.listing() == std::vector<std::string>{"m.json"});
}

BOOST_AUTO_TEST_CASE(the_default_sample_runs_and_writes_an_exr) {
  TempDir d;
  const fs::path out = d.path / "out.exr";
  const fs::path mp = write(d.path / "m.json", tiny_manifest(out, 2));
  auto r = run_process({kGenplug, "run", mp.string()});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  BOOST_TEST(contains(r.err, "job 1/1 wrote"));
  BOOST_TEST(fs::exists(out));
  BOOST_TEST(d.listing() == std::vector<std::string>({"m.json", "out.exr"}));
}

namespace {

// An 8-image batch of the tiny model: seeds 1..8, outputs "<dir>/img_{seed}.exr".
json batch_manifest(const fs::path& dir) {
  json m = tiny_manifest(dir / "unused.exr", 1);
  m["jobs"][0].erase("seed");
  m["jobs"][0]["seeds"] = {{"from", 1}, {"count", 8}};
  m["jobs"][0]["output"] = (dir / "img_{seed}.exr").string();
  return m;
}

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));  // throws on a bad line
  return out;
}

size_t count_events(const std::vector<json>& events, const std::string& name) {
  return size_t(std::count_if(events.begin(), events.end(), [&](const json& e) { return e["event"] == name; }));
}

std::string attribute(const fs::path& exr, const std::string& name) {
  const auto attrs = genplug::host::read_exr_attributes(exr);
  const auto it = attrs.find(name);
  return it == attrs.end() ? "" : it->second;
}

}  // namespace

BOOST_AUTO_TEST_CASE(list_prints_the_work_items_without_loading_a_plugin) {
  TempDir d;
  json m = batch_manifest(d.path);
  m["model"]["plugin"] = "org.example.not-installed";
  const fs::path mp = write(d.path / "m.json", m);
  auto r = run_process({kGenplug, "run", mp.string(), "--list"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  const auto items = json_lines(r.out);
  BOOST_REQUIRE_EQUAL(items.size(), 8u);
  BOOST_TEST(items[2]["index"] == 2);
  BOOST_TEST(items[2]["settings"]["seed"] == 3);
  BOOST_TEST(items[2]["output"] == (d.path / "img_3.exr").string());
  r = run_process({kGenplug, "run", mp.string(), "--list", "--shard", "1/3"});
  BOOST_TEST(json_lines(r.out).size() == 3u);  // items 1, 4, 7
  r = run_process({kGenplug, "run", mp.string(), "--list", "--shard", "3/3"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "--shard"));
  BOOST_TEST(d.listing() == std::vector<std::string>{"m.json"});

  // Ctrl-C stops a long listing (exit 130): 20 000 lines (about 4 MB) cannot all be written before the reader,
  // which sends the signal at the first line, has read them.
  m["jobs"][0]["seeds"]["count"] = 20000;
  write(mp, m);
  r = run_process({kGenplug, "run", mp.string(), "--list"},
                  [](const std::string& out) { return contains(out, "\n"); }, SIGINT, true);
  BOOST_TEST(r.exit_code == 130, r.err);
  BOOST_TEST(contains(r.err, "cancelled while listing the work items"), r.err);
  BOOST_TEST(json_lines(r.out).size() < 20000u);
}

// Four shards render exactly what one process renders, bit for bit; a rerun skips what is done and renders
// only what is missing; an output from other settings is not overwritten.
BOOST_AUTO_TEST_CASE(shards_render_bit_identical_images_and_resume_skips_what_is_done) {
  TempDir d;
  fs::create_directories(d.path / "local");
  fs::create_directories(d.path / "farm");
  const fs::path local = write(d.path / "local.json", batch_manifest(d.path / "local"));
  const fs::path farm = write(d.path / "farm.json", batch_manifest(d.path / "farm"));
  auto r = run_process({kGenplug, "-q", "run", local.string()});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  for (int shard = 0; shard < 4; ++shard) {
    r = run_process({kGenplug, "run", farm.string(), "--shard", std::to_string(shard) + "/4", "--progress", "jsonl"});
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
    const auto events = json_lines(r.out);
    BOOST_TEST(count_events(events, "item_done") == 2u);
    BOOST_TEST(events.front()["event"] == "start");
    BOOST_TEST(events.back()["event"] == "done");
  }
  for (int seed = 1; seed <= 8; ++seed) {
    const std::string name = "img_" + std::to_string(seed) + ".exr";
    const std::string pixels = attribute(d.path / "local" / name, "genplug.pixels.hash");
    BOOST_TEST(pixels.size() == 16u);
    BOOST_TEST(attribute(d.path / "farm" / name, "genplug.pixels.hash") == pixels, name);
    BOOST_TEST(attribute(d.path / "farm" / name, "genplug.item.hash") ==
               attribute(d.path / "local" / name, "genplug.item.hash"), name);
  }
  // Resume: delete two, rerun everything: those two are rendered again, the six others are skipped untouched.
  const auto kept_time = fs::last_write_time(d.path / "farm" / "img_1.exr");
  fs::remove(d.path / "farm" / "img_3.exr");
  fs::remove(d.path / "farm" / "img_8.exr");
  r = run_process({kGenplug, "run", farm.string(), "--progress", "jsonl"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  const auto events = json_lines(r.out);
  BOOST_TEST(count_events(events, "skipped") == 6u);
  BOOST_TEST(count_events(events, "item_done") == 2u);
  BOOST_TEST((fs::last_write_time(d.path / "farm" / "img_1.exr") == kept_time));
  BOOST_TEST(attribute(d.path / "farm" / "img_8.exr", "genplug.pixels.hash") ==
             attribute(d.path / "local" / "img_8.exr", "genplug.pixels.hash"));
  // Other settings for the same outputs: refused (exit 6, permanent) unless forced.
  r = run_process({kGenplug, "-q", "run", farm.string(), "--set", "jobs.0.steps=2"});
  BOOST_TEST(r.exit_code == 6, r.err);
  BOOST_TEST(contains(r.err, "was not rendered from this work item"), r.err);
  BOOST_TEST((fs::last_write_time(d.path / "farm" / "img_1.exr") == kept_time));
  // A missing input is said before that: --force, which the output's error suggests, cannot mend it (exit 3).
  r = run_process({kGenplug, "-q", "run", farm.string(), "--set", "jobs.0.init_image=" + (d.path / "no.png").string()});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "no.png': does not exist"), r.err);
  BOOST_TEST(!contains(r.err, "was not rendered from this work item"), r.err);
  // So is a memory limit the job cannot render under (3, permanent: it had come after the 6), and a size that is
  // no multiple of the model's, named by its own field even where the job has a plate.
  r = run_process({kGenplug, "-q", "run", farm.string(), "--set", "jobs.0.steps=2", "--memory-limit", "1K"});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "the limit given is 1024 bytes"), r.err);
  BOOST_TEST(!contains(r.err, "was not rendered from this work item"), r.err);
  r = run_process({kGenplug, "-q", "run", farm.string(), "--set", "jobs.0.width=100", "--set",
                   "jobs.0.init_image=" + (d.path / "no.png").string()});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "farm.json: jobs[0]"), r.err);
  BOOST_TEST(contains(r.err, ".width: 100 is not a multiple of 16"), r.err);
  BOOST_TEST(!contains(r.err, "init_image"), r.err);
}

// A shard in text mode says which it is, where it came from and how many items it holds (a Slurm array task
// renders a part of the manifest unasked), and numbers its jobs among its own: its second is "job 2/2", not the
// manifest's sixth item over 2.
BOOST_AUTO_TEST_CASE(a_shard_names_itself_and_numbers_its_own_jobs) {
  TempDir d;
  const fs::path mp = write(d.path / "m.json", batch_manifest(d.path));
  auto r = run_process({"/usr/bin/env", "SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_COUNT=4",
                        kGenplug, "run", mp.string(), "--progress", "text"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  BOOST_TEST(contains(r.err, "genplug: shard 1/4 (from SLURM_ARRAY_TASK_ID): 2 of the manifest's 8 work items\n"),
             r.err);
  BOOST_TEST(contains(r.err, "genplug: job 2/2 "), r.err);
  BOOST_TEST(contains(r.err, "genplug: job 2/2 wrote " + (d.path / "img_6.exr").string()), r.err);
  BOOST_TEST(!contains(r.err, "job 6"), r.err);
  BOOST_TEST(fs::exists(d.path / "img_2.exr"));  // items 1 and 5: seeds 2 and 6
  BOOST_TEST(fs::exists(d.path / "img_6.exr"));
  BOOST_TEST(!fs::exists(d.path / "img_1.exr"));
  r = run_process({kGenplug, "run", mp.string(), "--shard", "0/4", "--progress", "text"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  BOOST_TEST(contains(r.err, "genplug: shard 0/4 (from --shard): 2 of the manifest's 8 work items\n"), r.err);
  r = run_process({kGenplug, "run", mp.string(), "--shard", "2/4", "--progress", "none"});  // quiet: no notice
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  BOOST_TEST(!contains(r.err, "shard"), r.err);
}

// Resume from a folder that cannot be written (a read-only archive of the renders): an output that is up to date
// is skipped; one that would be written is refused before anything renders, naming the item.
BOOST_AUTO_TEST_CASE(resume_skips_up_to_date_outputs_in_a_read_only_folder) {
  TempDir d;
  fs::create_directories(d.path / "archive");
  const fs::path mp = write(d.path / "m.json", batch_manifest(d.path / "archive"));
  auto r = run_process({kGenplug, "-q", "run", mp.string(), "--set", "jobs.0.seeds.count=1"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  const auto rendered_time = fs::last_write_time(d.path / "archive" / "img_1.exr");
  // An item up to date is not held to what rendering it would need: a memory limit it could not render under (or
  // a ulimit -v) had refused the resume with exit 3.
  r = run_process({kGenplug, "-q", "run", mp.string(), "--set", "jobs.0.seeds.count=1", "--memory-limit", "1K"});
  BOOST_TEST(r.exit_code == 0, r.err);
  fs::permissions(d.path / "archive", fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                  fs::perm_options::remove);
  // A folder's mode does not stop root: run as nobody then.
  const std::vector<std::string> as_user = ::geteuid() == 0
      ? std::vector<std::string>{"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}
      : std::vector<std::string>{};
  auto run_as_user = [&](std::vector<std::string> argv) {
    argv.insert(argv.begin(), as_user.begin(), as_user.end());
    return run_process(argv);
  };
  // nobody must reach the binary, the FLUX plugin and the mini model's files: not so in a tree under /root (mode
  // 700), say. Skipped there, saying so on stderr, rather than failed for the tree's place; where nobody can reach
  // them, whatever fails below is a failure.
  const std::string flux = std::string(GENPLUG_BINARY_DIR) + "/plugins/libgenplug_flux.so",
                    mini = std::string(GENPLUG_SOURCE_DIR) + "/models/mini/transformer.safetensors";
  if (!as_user.empty() &&
      run_as_user({"/bin/sh", "-c", "test -x \"$1\" && test -r \"$2\" && test -r \"$3\"", "sh", kGenplug, flux, mini})
              .exit_code != 0) {
    std::cerr << "test_cli: skipped the read-only folder's part as nobody: nobody cannot reach " << kGenplug << ", "
              << flux << " or " << mini << "\n";
    fs::permissions(d.path / "archive", fs::perms::owner_write, fs::perm_options::add);
    return;
  }
  r = run_as_user({kGenplug, "run", mp.string(), "--set", "jobs.0.seeds.count=1", "--progress", "jsonl"});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(count_events(json_lines(r.out), "skipped") == 1u, r.out);
  // Refused, naming the file that would be written: img_1 forced, img_2 new, and img_1 damaged (its pixels no
  // longer match their hash: it would be rendered again).
  auto refused = [&](const std::vector<std::string>& rerun, const std::string& file) {
    std::vector<std::string> argv{kGenplug, "run", mp.string()};
    argv.insert(argv.end(), rerun.begin(), rerun.end());
    r = run_as_user(argv);
    BOOST_TEST(r.exit_code == 6, r.err);
    BOOST_TEST(contains(r.err, "cannot write output '" + (d.path / "archive" / file).string() + "'"), r.err);
    BOOST_TEST(contains(r.err, ".output: "), r.err);
    BOOST_TEST(!contains(r.err, "eval "), "it rendered before refusing");
    BOOST_TEST(!contains(r.err, "rendering it again"), r.err);
  };
  refused({"--set", "jobs.0.seeds.count=1", "--force"}, "img_1.exr");
  refused({"--set", "jobs.0.seeds.count=2"}, "img_2.exr");
  // A file there that no item hash could match (no EXR) is refused so too, and before the model loads (it had been
  // found foreign only after).
  fs::permissions(d.path / "archive", fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(d.path / "archive" / "img_2.exr") << "notes, not an image\n";
  fs::permissions(d.path / "archive", fs::perms::owner_write, fs::perm_options::remove);
  refused({"--set", "jobs.0.seeds.count=2"}, "img_2.exr");
  BOOST_TEST(contains(r.err, "(the output is no readable EXR)"), r.err);
  BOOST_TEST(!contains(r.err, "transformer on cpu"), "the model loaded before the refusal: " << r.err);
  fs::permissions(d.path / "archive", fs::perms::owner_write, fs::perm_options::add);
  fs::remove(d.path / "archive" / "img_2.exr");
  fs::permissions(d.path / "archive", fs::perms::owner_write, fs::perm_options::remove);
  BOOST_TEST((fs::last_write_time(d.path / "archive" / "img_1.exr") == rendered_time));
  {
    std::fstream f(d.path / "archive" / "img_1.exr", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(fs::file_size(d.path / "archive" / "img_1.exr") - 64));
    f.write("\x55\x55\x55\x55\x55\x55\x55\x55", 8);
  }
  refused({"--set", "jobs.0.seeds.count=1"}, "img_1.exr");
  BOOST_TEST(contains(r.err, "(the output is this work item's render but damaged)"), r.err);
  fs::permissions(d.path / "archive", fs::perms::owner_write, fs::perm_options::add);
}

BOOST_AUTO_TEST_CASE(sigterm_during_sampling_exits_143_and_leaves_no_file) {
  TempDir d;
  const fs::path out = d.path / "out.exr";
  const fs::path mp = write(d.path / "m.json", tiny_manifest(out, 200));
  auto r = run_process({kGenplug, "run", mp.string()},
                       [](const std::string& err) { return contains(err, "eval 2/"); }, SIGTERM);
  BOOST_TEST(r.exit_code == 143, r.err);
  BOOST_TEST(contains(r.err, "cancelled"));
  BOOST_TEST(d.listing() == std::vector<std::string>{"m.json"});
}

// With machine-readable progress the error event names the item that was cancelled: its index and output, copied
// before the pipeline that owned the job unwound (they were read from freed memory before).
BOOST_AUTO_TEST_CASE(sigterm_with_jsonl_progress_reports_the_cancelled_item) {
  TempDir d;
  const fs::path out = d.path / "out.exr";
  const fs::path mp = write(d.path / "m.json", tiny_manifest(out, 200));
  auto r = run_process({kGenplug, "run", mp.string(), "--progress", "jsonl"},
                       [](const std::string& out) { return contains(out, "\"evaluation\":2,"); }, SIGTERM, true);
  BOOST_TEST(r.exit_code == 143, r.err);
  nlohmann::json error;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const auto event = nlohmann::json::parse(line);  // every line is JSON
    if (event.at("event") == "error") error = event;
  }
  BOOST_TEST_REQUIRE(error.is_object(), r.out);
  BOOST_TEST(error.at("exit_code") == 143);
  BOOST_TEST(error.at("index") == 0);
  BOOST_TEST(error.at("output") == out.string());
  BOOST_TEST(contains(error.at("message").get<std::string>(), "cancelled"));
  BOOST_TEST(d.listing() == std::vector<std::string>{"m.json"});
}

// Resume reads every pixel back: a damaged render of the item is rendered again, not skipped; settings that
// mean the same render ("64.0" for 64, a default written out, the model's LoRAs written out) are the same item.
BOOST_AUTO_TEST_CASE(resume_renders_damaged_outputs_again_and_knows_equal_settings) {
  TempDir d;
  const fs::path mp = write(d.path / "m.json", batch_manifest(d.path));
  auto r = run_process({kGenplug, "-q", "run", mp.string(), "--set", "jobs.0.seeds.count=3"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  const std::string hash = attribute(d.path / "img_2.exr", "genplug.pixels.hash");
  {  // flip bytes in the middle of img_2 (pixel data), cut img_3 short
    std::fstream f(d.path / "img_2.exr", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(fs::file_size(d.path / "img_2.exr") - 64));
    f.write("\x55\x55\x55\x55\x55\x55\x55\x55", 8);
  }
  fs::resize_file(d.path / "img_3.exr", fs::file_size(d.path / "img_3.exr") / 2 + 400);
  r = run_process({kGenplug, "run", mp.string(), "--set", "jobs.0.seeds.count=3", "--set", "jobs.0.width=64.0",
                   "--progress", "jsonl"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  const auto events = json_lines(r.out);
  BOOST_TEST(count_events(events, "skipped") == 1u);    // img_1
  BOOST_TEST(count_events(events, "item_done") == 2u);  // img_2 (damaged), img_3 (truncated)
  BOOST_TEST(contains(r.err, "damaged"), r.err);
  BOOST_TEST(attribute(d.path / "img_2.exr", "genplug.pixels.hash") == hash);
  // "loras": [] where the model config has none is the model's own: the same items (they had been other items'
  // renders, exit 6).
  r = run_process({kGenplug, "run", mp.string(), "--set", "jobs.0.seeds.count=3", "--set", "jobs.0.loras=[]",
                   "--progress", "jsonl"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  BOOST_TEST(count_events(json_lines(r.out), "skipped") == 3u, r.out);
}

BOOST_AUTO_TEST_CASE(hostile_paths_and_arguments_fail_before_rendering) {
  TempDir d;
  fs::create_directories(d.path / "isdir.exr");
  auto r = run_process({kGenplug, "run", write(d.path / "m.json", tiny_manifest(d.path / "isdir.exr", 1)).string(), "--force"});
  BOOST_TEST(r.exit_code == 6, r.err);
  BOOST_TEST(contains(r.err, "is a folder"), r.err);
  BOOST_TEST(!contains(r.err, "eval "), "it rendered before refusing");
  for (const fs::path& bad : {d.path / (std::string(256, 'n') + ".exr"), d.path / "dangling.exr"}) {
    if (bad.filename() == "dangling.exr") fs::create_symlink(d.path / "nowhere" / "x.exr", bad);
    r = run_process({kGenplug, "run", write(d.path / "m.json", tiny_manifest(bad, 1)).string()});
    BOOST_TEST(r.exit_code == 6, r.err);
    BOOST_TEST((contains(r.err, "longer than 255 bytes") || contains(r.err, "dangling symbolic link")), r.err);
    BOOST_TEST(!contains(r.err, "eval "), "it rendered before refusing");
  }
  // A folder in which nothing can be created, though access(W_OK) says yes to root: /proc.
  r = run_process({kGenplug, "run", write(d.path / "m.json", tiny_manifest("/proc/genplug-test.exr", 1)).string()});
  BOOST_TEST(r.exit_code == 6, r.err);
  BOOST_TEST(contains(r.err, (d.path / "m.json").string() + ": jobs[0].output"), r.err);
  BOOST_TEST(!contains(r.err, "eval "), "it rendered before refusing");
  r = run_process({kGenplug, "run", (d.path / "isdir.exr").string()});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "is not a regular file"), r.err);
  // @FILE options are read only from a small regular file: a FIFO would block, /dev/zero never end.
  BOOST_REQUIRE(::mkfifo((d.path / "fifo").c_str(), 0600) == 0);
  for (const std::string& file : {(d.path / "fifo").string(), std::string("/dev/zero")}) {
    r = run_process({kGenplug, "schedule", "--plugin", "org.genplug.flowmatch", "--config", "@" + file, "--steps", "4",
                     "--image-tokens", "16"});
    BOOST_TEST(r.exit_code == 2, r.err);
    BOOST_TEST(contains(r.err, "--config: cannot read '" + file + "': it is not a regular file"), r.err);
  }
  // A plugin of another kind named on the command line is the command line's mistake (2), as one in a manifest is
  // the manifest's (3); an id that no library provides may be a matter of installation (4).
  r = run_process({kGenplug, "schedule", "--plugin", "org.genplug.dype", "--steps", "4", "--image-tokens", "16"});
  BOOST_TEST(r.exit_code == 2, r.err);
  BOOST_TEST(contains(r.err, "plugin 'org.genplug.dype' is a posenc plugin, a scheduler plugin was expected"), r.err);
  r = run_process({kGenplug, "posenc", "--plugin", "org.genplug.flowmatch", "--layout",
                   "@" GENPLUG_SOURCE_DIR "/samples/layouts/flux.json", "--height", "64", "--width", "64"});
  BOOST_TEST(r.exit_code == 2, r.err);
  BOOST_TEST(contains(r.err, "a posenc plugin was expected"), r.err);
  r = run_process({kGenplug, "schedule", "--plugin", "org.example.nope", "--steps", "4", "--image-tokens", "16"});
  BOOST_TEST(r.exit_code == 4, r.err);
  r = run_process({kGenplug, "schedule", "--plugin", "org.genplug.flowmatch", "--config", R"({"shift": 1e999})",
                   "--steps", "4", "--image-tokens", "16"});
  BOOST_TEST(r.exit_code == 2, r.err);
  BOOST_TEST(contains(r.err, "--config: a number is outside the range of a double: 1e999"), r.err);
  r = run_process({kGenplug, "run", (d.path / "m.json").string(), "--list", "--shard", ""});
  BOOST_TEST(r.exit_code == 2, r.err);
  r = run_process({kGenplug, "run", (d.path / "absent.json").string(), "--progress", "jsonl"});
  BOOST_TEST(r.exit_code == 3, r.err);
  const auto events = json_lines(r.out);
  BOOST_TEST_REQUIRE(events.size() == 1u);
  BOOST_TEST(events[0]["event"] == "error");
  BOOST_TEST(events[0]["exit_code"] == 3);
  // An empty path (an unset variable) is the command line's fault, as with inspect and validate: exit 2, not a
  // manifest error about a file named "".
  r = run_process({kGenplug, "run", "", "--progress", "jsonl"});
  BOOST_TEST(r.exit_code == 2, r.err);
  BOOST_TEST(contains(r.err, "genplug: error: MANIFEST: an empty path names no file"), r.err);
  BOOST_TEST(json_lines(r.out).size() == 1u);
  r = run_process({kGenplug, "validate", ""});
  BOOST_TEST(r.exit_code == 2, r.err);
  BOOST_TEST(contains(r.err, "library: an empty path names no file"), r.err);
  // The cancel grace from the environment: whole seconds, or a usage error before anything is read.
  r = run_process({"/usr/bin/env", "GENPLUG_CANCEL_GRACE=1.5", kGenplug, "run", (d.path / "m.json").string()});
  BOOST_TEST(r.exit_code == 2, r.err);
  BOOST_TEST(contains(r.err, "GENPLUG_CANCEL_GRACE: expected whole seconds from 0 to 86400, got '1.5'"), r.err);
  // A bad option value is reported to a monitor too.
  r = run_process({kGenplug, "run", (d.path / "m.json").string(), "--progress", "jsonl", "--memory-limit", "xx"});
  BOOST_TEST(r.exit_code == 2, r.err);
  const auto usage = json_lines(r.out);
  BOOST_TEST_REQUIRE(usage.size() == 1u);
  BOOST_TEST(usage[0]["event"] == "error");
  BOOST_TEST(usage[0]["message"] == "--memory-limit: 'xx' is not a size (e.g. 24G, 512M) or off");
  r = run_process({kGenplug, "run", (d.path / "m.json").string(), "--memory-limit", "0"});  // not "no limit"
  BOOST_TEST(r.exit_code == 2, r.err);
  BOOST_TEST(contains(r.err, "--memory-limit: '0' would leave no memory for any job (off turns the check off)"), r.err);
  // Said as the grammar reads the text: no number (hex), or less than a byte.
  r = run_process({kGenplug, "run", (d.path / "m.json").string(), "--memory-limit", "0x0"});
  BOOST_TEST(contains(r.err, "--memory-limit: '0x0' is not a size"), r.err);
  r = run_process({kGenplug, "run", (d.path / "m.json").string(), "--memory-limit", "0.5"});
  BOOST_TEST(contains(r.err, "--memory-limit: '0.5' is less than one byte"), r.err);
  // An option's own range, not its type's.
  r = run_process({kGenplug, "run", (d.path / "m.json").string(), "--preview-size", "4294967296", "--list"});
  BOOST_TEST(r.exit_code == 2, r.err);
  BOOST_TEST(contains(r.err, "--preview-size: must be from 16 to 65536, got 4294967296"), r.err);
  r = run_process({kGenplug, "run", (d.path / "m.json").string(), "--preview-every", "010", "--list"});
  BOOST_TEST(r.exit_code == 0, r.err);  // a leading zero is accepted, as decimal (schedule checks the value)
  r = run_process({kGenplug, "run", (d.path / "m.json").string(), "--preview-size", "0x100", "--list"});
  BOOST_TEST(r.exit_code == 2, r.err);
  BOOST_TEST(contains(r.err, "--preview-size: must be a whole number in decimal digits, got '0x100'"), r.err);
}

// A weights file cut short while a render maps it (copied onto in place): SIGBUS had ended the process with "Bus
// error", exit 135, nothing said. The CLI says what happened and exits 75 (retryable), with no output written.
BOOST_AUTO_TEST_CASE(a_weights_file_cut_short_under_a_render_is_exit_75) {
  TempDir d;
  const fs::path weights = d.path / "transformer.safetensors";
  fs::copy_file(fs::path(GENPLUG_SOURCE_DIR) / "models" / "mini" / "transformer.safetensors", weights);
  json m = tiny_manifest(d.path / "x.exr", 400);
  BOOST_REQUIRE(m["model"]["config"].value("preset", "") == "mini");  // zero-copy: f32 weights, f32 model
  m["model"]["config"]["transformer"] = weights.string();
  bool cut = false;
  const auto r = run_process({kGenplug, "run", write(d.path / "m.json", m).string(), "--progress", "text"},
                             [&](const std::string& err) {
                               if (!cut && contains(err, "): sample\n")) {
                                 fs::resize_file(weights, 4096);
                                 cut = true;
                               }
                               return false;
                             });
  BOOST_TEST_REQUIRE(cut, r.err);
  BOOST_TEST(r.exit_code == 75, r.err);
  BOOST_TEST(contains(r.err, "genplug: error: a memory-mapped file was cut short, or could not be read, while in use"),
             r.err);
  BOOST_TEST(!fs::exists(d.path / "x.exr"));
}

// --preview-size asks for previews as --preview-every does: alone it had been ignored, and no PNG written.
BOOST_AUTO_TEST_CASE(preview_size_alone_asks_for_previews_of_that_size) {
  TempDir d;
  const auto r = run_process({kGenplug, "-q", "run", write(d.path / "m.json", tiny_manifest(d.path / "x.exr")).string(),
                              "--preview-size", "32"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  int width = 0, height = 0;
  BOOST_TEST(genplug::test::read_png_rgb8(d.path / "x.png", width, height).size() == 32u * 32u * 3u);
  BOOST_TEST(width == 32);
  BOOST_TEST(height == 32);
}

// No run replaces a file it reads or writes: with previews on, a preview that is an output (the job's own,
// named .png, or another job's) is refused before anything renders, and so is an output that is the manifest,
// with --force or without.
BOOST_AUTO_TEST_CASE(previews_and_outputs_never_replace_the_runs_own_files) {
  TempDir d;
  json m = tiny_manifest(d.path / "x.png", 1);
  auto r = run_process({kGenplug, "run", write(d.path / "m.json", m).string(), "--preview"});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, (d.path / "m.json").string() + ": jobs[0].output: its PNG preview '" +
                                 (d.path / "x.png").string() + "' would replace the output of jobs[0]"),
             r.err);
  m["jobs"][0]["output"] = (d.path / "b.exr").string();
  m["jobs"].push_back(m["jobs"][0]);
  m["jobs"][1]["output"] = (d.path / "b.png").string();
  r = run_process({kGenplug, "run", write(d.path / "m.json", m).string(), "--preview-every", "1"});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "jobs[0].output: its PNG preview '" + (d.path / "b.png").string() +
                                 "' would replace the output of jobs[1]"),
             r.err);
  r = run_process({kGenplug, "run", write(d.path / "m.json", tiny_manifest(d.path / "m.json", 1)).string(), "--force"});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "jobs[0].output: \"" + (d.path / "m.json").string() + "\" is the manifest, which this run "
                             "reads: not replaced, even with overwrite"),
             r.err);
  BOOST_TEST(d.listing() == std::vector<std::string>{"m.json"});
  BOOST_TEST(genplug::test::read_json(d.path / "m.json")["jobs"][0]["output"] == (d.path / "m.json").string());
  // Without --force the same (it had been "no readable EXR (pass --force to replace it)", exit 6).
  r = run_process({kGenplug, "run", (d.path / "m.json").string()});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "\" is the manifest, which this run reads: not replaced\n"), r.err);
}

// A chain: a job that refines an earlier job's render (its plate is that output) resumes once the earlier one is
// done; the output that is a plate is refused only where it may be overwritten (--force), which would replace it
// (a first fix of an output that is an input had refused it without --force too).
BOOST_AUTO_TEST_CASE(a_job_may_start_from_an_earlier_jobs_render) {
  TempDir d;
  json m = tiny_manifest(d.path / "first.exr", 1);
  auto r = run_process({kGenplug, "-q", "run", write(d.path / "m.json", m).string()});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  json second = m["jobs"][0];
  second["output"] = (d.path / "second.exr").string();
  second["init_image"] = (d.path / "first.exr").string();
  m["jobs"].push_back(second);
  r = run_process({kGenplug, "run", write(d.path / "m.json", m).string(), "--progress", "jsonl"});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  BOOST_TEST(count_events(json_lines(r.out), "skipped") == 1u, r.out);
  BOOST_TEST(fs::exists(d.path / "second.exr"));
  r = run_process({kGenplug, "run", (d.path / "m.json").string(), "--force"});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "is the file of jobs[1].init_image, which this run reads: not replaced, even with "
                             "overwrite"),
             r.err);
}

// A reader of the progress that has gone away does not end the render (SIGPIPE ignored): the output is written and
// the exit status is the render's.
BOOST_AUTO_TEST_CASE(a_closed_progress_pipe_does_not_end_the_render) {
  TempDir d;
  const fs::path mp = write(d.path / "m.json", tiny_manifest(d.path / "out.exr", 2));
  // `true` exits at once, before genplug has loaded its plugins and written its first line.
  const auto r = run_process({"/bin/bash", "-c", "'" + kGenplug + "' run '" + mp.string() +
                                                     "' --progress jsonl 2>&1 | true; exit ${PIPESTATUS[0]}"});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(fs::exists(d.path / "out.exr"));
}

// Where stdout is the product (--list, --json), a write to it that fails is the command's failure: a full disk is
// retryable (75), a closed descriptor an output error (6). Both had exited 0 with nothing written.
BOOST_AUTO_TEST_CASE(a_failed_write_to_stdout_fails_the_command) {
  TempDir d;
  const fs::path mp = write(d.path / "m.json", tiny_manifest(d.path / "out.exr", 2));
  for (const std::string& command : {std::string("plugins --json"), "run '" + mp.string() + "' --list"}) {
    auto r = run_process({"/bin/sh", "-c", "exec '" + kGenplug + "' " + command + " > /dev/full"});
    BOOST_TEST(r.exit_code == 75, command << ": " << r.err);
    BOOST_TEST(contains(r.err, "genplug: error: cannot write to standard output: "), r.err);
    r = run_process({"/bin/sh", "-c", "exec '" + kGenplug + "' " + command + " >&-"});
    BOOST_TEST(r.exit_code == 6, command << ": " << r.err);
    BOOST_TEST(contains(r.err, "genplug: error: standard output is closed"), r.err);
  }
  BOOST_TEST(!fs::exists(d.path / "out.exr"));
}

// What the scheduler or posenc refuses for a job (its schedule, its spectra) is found before the first job
// renders: a manifest error naming the job, and no output from the jobs before it.
BOOST_AUTO_TEST_CASE(a_schedule_or_spectrum_the_plugins_refuse_fails_before_any_job_renders) {
  TempDir d;
  json m = tiny_manifest(d.path / "a.exr", 2);
  m["jobs"].push_back(m["jobs"][0]);
  m["jobs"][1]["output"] = (d.path / "b.exr").string();
  m["jobs"][1]["scheduler"] = {{"plugin", "org.genplug.flowmatch"},
                               {"config", {{"schedule", "custom"}, {"sigmas", {1.0, 0.0}}}}};
  auto r = run_process({kGenplug, "run", write(d.path / "m.json", m).string()});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "m.json: jobs[1] (64 x 64, 2 steps): org.genplug.flowmatch: sigmas: invalid argument: "
                             "steps: the custom schedule (config.sigmas) has 1 steps, 2 were asked"),
             r.err);
  m["jobs"][1].erase("scheduler");
  m["jobs"][1]["posenc"] = {{"plugin", "org.genplug.dype"}, {"config", {{"base_resolution", 1}}}};
  r = run_process({kGenplug, "run", write(d.path / "m.json", m).string()});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "jobs[1] (64 x 64, 2 steps): org.genplug.dype: compute: invalid argument: "
                             "config.base_resolution: 1 px is less than one token"),
             r.err);
  BOOST_TEST(d.listing() == std::vector<std::string>{"m.json"});
}

// A plate whose header is whole but whose data is cut short is found before any job renders (it is decoded
// once by the checks), with the manifest field that names it.
BOOST_AUTO_TEST_CASE(a_truncated_plate_fails_before_any_job_renders) {
  TempDir d;
  const unsigned char truncated_png[] = {  // 16 x 16 RGB; its IDAT chunk claims 16 bytes, 12 follow
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
      0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x10, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x91, 0x68,
      0x36, 0x00, 0x00, 0x00, 0x10, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x18, 0x05, 0xa3,
      0x60, 0x14, 0xc0, 0x00, 0x00, 0x03, 0x10, 0x00, 0x01, 0x3f, 0x2c, 0x2b};
  const fs::path plate = d.path / "plate.png";
  std::ofstream(plate, std::ios::binary).write(reinterpret_cast<const char*>(truncated_png), sizeof truncated_png);
  json m = tiny_manifest(d.path / "a.exr", 1);
  m["jobs"].push_back(m["jobs"][0]);
  m["jobs"][1]["output"] = (d.path / "b.exr").string();
  m["jobs"][1]["init_image"] = plate.string();
  m["jobs"][1]["resize"] = "fill";
  auto r = run_process({kGenplug, "run", write(d.path / "m.json", m).string()});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "m.json: jobs[1].init_image: plate '" + plate.string() + "': PNG data: "), r.err);
  BOOST_TEST(!fs::exists(d.path / "a.exr"));

  // A float EXR plate with a NaN and an infinity decodes whole, but would give the model NaN latents.
  genplug::host::ImageRGB nan_plate{16, 16, std::vector<float>(3 * 16 * 16, 0.5f)};
  nan_plate.planar[7] = std::numeric_limits<float>::quiet_NaN();
  nan_plate.planar[300] = std::numeric_limits<float>::infinity();
  genplug::host::ExrOptions float_pixels;
  float_pixels.pixel = genplug::host::ExrOptions::Pixel::float32;
  const fs::path exr_plate = d.path / "nan.exr";
  genplug::host::write_exr(exr_plate, nan_plate, {}, float_pixels);
  m["jobs"][1]["init_image"] = exr_plate.string();
  r = run_process({kGenplug, "run", write(d.path / "m.json", m).string()});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "m.json: jobs[1].init_image: plate '" + exr_plate.string() +
                                 "': 2 of its 768 values are not finite (NaN or infinity)"),
             r.err);
  BOOST_TEST(!fs::exists(d.path / "a.exr"));

  // A colour space the OCIO config lacks is named by its own field, once, for a plate and for a refine plate.
  nan_plate.planar[7] = nan_plate.planar[300] = 0.5f;
  float_pixels.overwrite = true;
  genplug::host::write_exr(exr_plate, nan_plate, {}, float_pixels);
  m["jobs"][1]["init_colorspace"] = "Nope";
  r = run_process({kGenplug, "run", write(d.path / "m.json", m).string()});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "genplug: error: " + (d.path / "m.json").string() + ": jobs[1].init_colorspace: OCIO config"),
             r.err);
  m["jobs"][1].erase("init_colorspace");
  m["jobs"][1].erase("init_image");
  m["jobs"][1]["refine"] = {{"width", 64}, {"height", 64}, {"plate", exr_plate.string()}, {"plate_colorspace", "Nope"}};
  r = run_process({kGenplug, "run", write(d.path / "m.json", m).string()});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "genplug: error: " + (d.path / "m.json").string() +
                                 ": jobs[1].refine.plate_colorspace: OCIO config"),
             r.err);
  BOOST_TEST(!fs::exists(d.path / "a.exr"));

  // A colour space where none is read is refused, not ignored (it would still change the work item's identity):
  // a refine pass without a plate refines the first pass's render, and a PNG plate is sRGB.
  m["jobs"][1]["refine"].erase("plate");
  r = run_process({kGenplug, "run", write(d.path / "m.json", m).string()});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "m.json: jobs[1].refine.plate_colorspace: applies to EXR plates only, and there is no "
                             "plate (the pass refines the first pass's render): remove it"),
             r.err);
  m["jobs"][1].erase("refine");
  m["jobs"][1]["init_image"] = plate.string();
  m["jobs"][1]["init_colorspace"] = "sRGB";
  r = run_process({kGenplug, "run", write(d.path / "m.json", m).string()});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(contains(r.err, "m.json: jobs[1].init_colorspace: applies to EXR plates only, and a PNG plate is read "
                             "as sRGB: remove it"),
             r.err);
  BOOST_TEST(!fs::exists(d.path / "a.exr"));
}

// Usage errors are one line in the form of every other error, and a bound is printed as a person writes it.
BOOST_AUTO_TEST_CASE(usage_errors_are_one_prefixed_line) {
  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"run"}, "genplug: error: manifest is required (see --help)\n"},
           {{"validate", "--timeout", "-1", (genplug::test::plugin_build_dir() / "libgenplug_dype.so").string()},
            "genplug: error: --timeout: must be a number of seconds >= 0, got '-1' (see --help)\n"}}) {
    std::vector<std::string> argv = {kGenplug};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = run_process(argv);
    BOOST_TEST(r.exit_code == 2, r.err);
    // The last line (an environment warning may come first, e.g. for OMP_NUM_THREADS=0).
    const size_t line = r.err.rfind('\n', r.err.size() >= 2 ? r.err.size() - 2 : 0);
    BOOST_TEST(r.err.substr(line == std::string::npos ? 0 : line + 1) == message);
  }
}
