// genplug — the reference host's command line. Subcommands live one per file (cmd_*.cpp).
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <new>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <genplug/host/memory_budget.hpp>
#include <genplug/host/printable.hpp>
#include <genplug/sdk_version.h>

#include "allocation_reserve.hpp"
#include "blas_environment.hpp"
#include "crash_report.hpp"
#include "command.hpp"
#include "foreign_exit.hpp"
#include "standard_output.hpp"

namespace genplug::cli {

std::vector<Command>& commands() {
  static std::vector<Command> all;
  return all;
}

host::PluginCatalog Globals::catalog() const {
  std::vector<std::filesystem::path> extra(plugin_path.begin(), plugin_path.end());
  host::PluginCatalog::Options o;
  o.search_path = host::PluginCatalog::default_search_path(extra);
  bool q = quiet;
  o.warn = [q](const std::string& line) {
    if (!q) std::cerr << "genplug: skipped " << host::printable(line) << "\n";
  };
  return host::PluginCatalog(std::move(o));
}

}  // namespace genplug::cli

namespace {

// Whether `name` ("--plugin-path") is an option of the program or of one of its commands.
bool known_option(CLI::App& app, const std::string& name) {
  if (app.get_option_no_throw(name)) return true;
  for (const auto& c : genplug::cli::commands())
    if (app.get_subcommand(c.name)->get_option_no_throw(name)) return true;
  return false;
}

// The word where the command belongs when the line names no command ("genplug frobnicate"), or nullptr: the first
// word that is neither an option nor --plugin-path's value. CLI11 would say only "A subcommand is required".
const char* unknown_command(int argc, char** argv) {
  const char* first = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) return nullptr;  // help first
    for (const auto& c : genplug::cli::commands())
      if (c.name == argv[i]) return nullptr;  // a stray word before it is CLI11's to name ("not expected")
    if (std::strcmp(argv[i], "--plugin-path") == 0)
      ++i;
    else if (argv[i][0] != '-' && !first)
      first = argv[i];
  }
  return first;
}

// The first of the program's options written with an empty value after '=' ("--plugin-path="), before any "--".
// CLI11 reads one as the option alone, then takes the next word as its value ("--plugin-path= run" searched a folder
// named "run") or refuses it as unexpected, depending on the option. Other words ("-p --x=", a prompt) are values.
const char* option_with_empty_value(int argc, char** argv, CLI::App& app) {
  for (int i = 1; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
    const char* equals = std::strchr(argv[i], '=');
    if (std::strncmp(argv[i], "--", 2) == 0 && equals && equals[1] == '\0' &&
        known_option(app, std::string(argv[i], size_t(equals - argv[i]))))
      return argv[i];
  }
  return nullptr;
}

}  // namespace

// A failed command's exit, once its message is out: the libraries' exit handlers are skipped, since after a
// failure some may never end. OpenBLAS's workers, under a ulimit -v that cannot take their buffer, retry it forever,
// and exit() waits for them (a run refused with exit 3 had spun until SIGKILL). Every file genplug writes is
// complete or removed before this point (its objects are gone with the stack).
[[noreturn]] static void failed(int code) {
  genplug::cli::product().flush();
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(code);
}

// What the process needs before any plugin loads or any option is parsed.
static void prepare_process(int argc, char** argv) {
  using namespace genplug;
  // A reader of stdout or stderr that goes away (`genplug run m.json | head`) must not end a render: writes to
  // it fail with EPIPE instead, and the outputs are files.
  std::signal(SIGPIPE, SIG_IGN);
  // Before anything opens a file: one must not take a closed stdout's number.
  cli::occupy_closed_standard_descriptors();
  // Before any plugin loads: what plugins print goes to stderr, not into the product on stdout.
  cli::keep_stdout_for_the_product();
  // Nor a file size limit (ulimit -f, a farm's RLIMIT_FSIZE): past it a write fails with EFBIG, reported as an
  // output error with the temporary file removed, instead of SIGXFSZ killing the process mid-write.
  std::signal(SIGXFSZ, SIG_IGN);
  // Room for the unwinding after an allocation fails, which itself allocates (allocation_reserve.hpp).
  cli::hold_allocation_reserve();
  // A plugin's exit() is its error, not genplug's status (foreign_exit.hpp); validate's probes report it themselves.
  // So is its crash, which is named (crash_report.hpp).
  if (std::none_of(argv + 1, argv + argc, [](const char* a) { return std::strcmp(a, "--probe") == 0; })) {
    cli::guard_against_foreign_exit();
    cli::install_crash_report();
  }
  // Before any plugin (and its math libraries) loads, so before the options are parsed: -q is looked for here.
  const bool quiet = std::any_of(argv + 1, argv + argc, [](const char* a) {
    return std::strcmp(a, "-q") == 0 || std::strcmp(a, "--quiet") == 0;
  });
  for (const std::string& w : cli::set_blas_thread_defaults())
    if (!quiet) std::cerr << "genplug: warning: " << host::printable(w) << "\n";
}

// The program's options, its commands and their help.
static void add_options_and_commands(CLI::App& app, genplug::cli::Globals& globals) {
  using namespace genplug;
  app.set_version_flag("--version", std::string("genplug ") + GENPLUG_SDK_VERSION_STRING + " (ABI " +
                                        std::to_string(GENPLUG_ABI_MAJOR) + "." +
                                        std::to_string(GENPLUG_ABI_MINOR) + ")");
  app.require_subcommand(1);
  // Global options after the command too (`genplug run m.json --plugin-path ./plugins`): what a command does not
  // know falls through to here. Set before the commands are added, which take it over.
  app.fallthrough();
  // Usage errors on one line, prefixed as every other error: "genplug: error: --timeout: ...".
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "genplug: error: " + host::printable(e.what()) + " (see --help)\n";
  });
  app.footer(
      "Exit codes: 0 ok, 2 usage, 3 manifest error, 4 plugin error, 5 runtime error, 6 output error,\n"
      "75 retryable (out of memory, disk full), 130 SIGINT, 143 SIGTERM. See docs/cli.md.");
  app.add_option("--plugin-path", globals.plugin_path,
                 "Extra plugin folder or library (searched before GENPLUG_PLUGIN_PATH and the defaults)")
      ->type_name("PATH")
      ->allow_extra_args(false)  // one path per --plugin-path: `run --plugin-path DIR m.json` keeps m.json
      ->check(cli::plugin_file_check(true));  // a mistyped folder is an error, not an empty search that blames the manifest
  app.add_flag("-q,--quiet", globals.quiet, "Only errors on stderr");
  for (auto& c : cli::commands()) {
    CLI::App* sub = app.add_subcommand(c.name, c.description);
    c.setup(*sub, globals);
    // A command's help shows only its own options; these fall through from anywhere on the line.
    sub->footer(sub->get_footer() + "\n\nGlobal options, before or after the command: --plugin-path PATH "
                                    "(repeatable), -q/--quiet (genplug --help).");
  }
}

// The usage errors CLI11 would get wrong (unknown_command, option_with_empty_value): their message, and the exit
// code; nullopt when there is none.
static std::optional<int> usage_error_before_parse(int argc, char** argv, CLI::App& app) {
  using namespace genplug;
  if (const char* word = unknown_command(argc, argv)) {
    std::string names;
    for (const auto& c : cli::commands()) names += (names.empty() ? "" : ", ") + c.name;
    std::cerr << "genplug: error: '" << host::printable(word) << "' is no command (commands: " << names
              << "; see --help)\n";
    return static_cast<int>(host::ErrorKind::usage);
  }
  if (const char* empty = option_with_empty_value(argc, argv, app)) {
    std::cerr << "genplug: error: " << host::printable(empty) << ": the value after '=' is empty (see --help)\n";
    return static_cast<int>(host::ErrorKind::usage);
  }
  return std::nullopt;
}

// Parses the line, which runs its command; every error becomes its message and its exit code.
static int parse_and_run(int argc, char** argv, CLI::App& app) {
  using namespace genplug;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e, cli::product(), std::cerr);  // --help and --version are the product
    if (rc != 0) return static_cast<int>(host::ErrorKind::usage);
    if (const std::optional<host::HostError> out = cli::standard_output_error()) {  // --help, --version
      std::cerr << "genplug: error: " << out->what() << "\n";
      return out->exit_code();
    }
    return 0;
  } catch (const host::HostError& e) {
    std::cerr << "genplug: error: " << host::printable(e.what()) << "\n";
    failed(e.exit_code());
  } catch (const ContractError& e) {  // a plugin that broke the ABI, wherever it surfaced: exit 4
    std::cerr << "genplug: error: " << host::printable(e.what()) << "\n";
    failed(static_cast<int>(host::ErrorKind::plugin));
  } catch (const PluginError& e) {
    std::cerr << "genplug: error: " << host::printable(e.what()) << "\n";
    if (e.code() == GENPLUG_E_CANCELLED) failed(static_cast<int>(host::ErrorKind::cancelled));
    if (e.code() == GENPLUG_E_OUT_OF_MEMORY) failed(static_cast<int>(host::ErrorKind::retryable));
    failed(static_cast<int>(host::ErrorKind::runtime));
  } catch (const std::bad_alloc&) {
    std::cerr << "genplug: error: " << host::out_of_memory_text() << "\n";
    failed(static_cast<int>(host::ErrorKind::retryable));
  } catch (const std::exception& e) {
    std::cerr << "genplug: error: " << host::printable(e.what()) << "\n";
    failed(static_cast<int>(host::ErrorKind::runtime));
  }
  if (const std::optional<host::HostError> e = cli::standard_output_error()) {
    std::cerr << "genplug: error: " << e->what() << "\n";
    failed(e->exit_code());
  }
  return 0;
}

static int run_genplug(int argc, char** argv) {
  prepare_process(argc, argv);
  CLI::App app{"genplug: run image-generation pipelines assembled from plugins", "genplug"};
  genplug::cli::Globals globals;
  add_options_and_commands(app, globals);
  if (const std::optional<int> rc = usage_error_before_parse(argc, argv, app)) return *rc;
  return parse_and_run(argc, argv, app);
}

int main(int argc, char** argv) {
  const int code = run_genplug(argc, argv);
  genplug::cli::genplug_finished();
  return code;
}
