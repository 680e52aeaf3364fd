// genplug CLI — subcommand registration. Each cmd_*.cpp registers itself with a static RegisterCommand, and keeps
// its names (setup, reg, Options) in its own namespace, genplug::cli::<name>_command: the CLI is a unity build.
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <genplug/host/errors.hpp>
#include <genplug/host/plugin_catalog.hpp>

namespace genplug::cli {

// Options every subcommand sees.
struct Globals {
  std::vector<std::string> plugin_path;  // --plugin-path, repeatable
  bool quiet = false;

  // A catalog over --plugin-path, then the default search path; rejected libraries are logged to stderr
  // unless quiet.
  host::PluginCatalog catalog() const;
};

// Adds options to `cmd` and sets its callback. Callbacks report failure by throwing host::HostError
// (its kind is the exit code); std::exception becomes a runtime error.
using Setup = std::function<void(CLI::App& cmd, Globals& globals)>;

struct Command {
  std::string name;
  std::string description;
  Setup setup;
};

std::vector<Command>& commands();

// A plugin library argument: a regular file, links followed (a device, FIFO or folder is no library; the plugin
// catalog would skip it without a word). With folders_too, a plugin folder is accepted as well.
inline CLI::Validator plugin_file_check(bool folders_too = false) {
  return CLI::Validator(
      [folders_too](std::string& path) {
        if (path.empty()) return std::string(folders_too ? "an empty path names nothing" : "an empty path names no file");
        std::error_code ec;
        const auto status = std::filesystem::status(path, ec);
        if (std::filesystem::is_regular_file(status) || (folders_too && std::filesystem::is_directory(status)))
          return std::string();
        if (!std::filesystem::exists(status)) return "Path does not exist: " + path;
        return "'" + path + "' is not a " + (folders_too ? "folder or a " : "") + "plugin library (a regular .so file)";
      },
      "");  // no description: CLI11 would show it after the type ("PATH:PATH", read as a colon list)
}

struct RegisterCommand {
  RegisterCommand(std::string name, std::string description, Setup setup) {
    commands().push_back({std::move(name), std::move(description), std::move(setup)});
  }
};

}  // namespace genplug::cli
