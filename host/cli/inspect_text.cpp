// See inspect_text.hpp.
#include "inspect_text.hpp"

#include <sstream>

#include <genplug/host/printable.hpp>

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <string>

namespace genplug::cli {
namespace {

using nlohmann::json;

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) v /= 1024.0, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", v, units[u]);
  return buf;
}

// A value for people: strings without quotes, numbers and the rest as JSON. Strings come from the file: made
// printable here, each on its own, so that a newline inside a tensor name cannot start a report line of its own.
std::string text(const json& v) { return v.is_string() ? host::printable(v.get<std::string>()) : v.dump(); }

uint64_t bytes_of(const json& v) { return v.is_number_unsigned() ? v.get<uint64_t>() : 0; }

// "[3072, 64]"
std::string shape_text(const json& shape) {
  std::string s = "[";
  for (const auto& d : shape) s += (s.size() > 1 ? ", " : "") + text(d);
  return s + "]";
}

void print_header(const json& j, std::ostream& os) {
  os << "checkpoint: " << text(j.value("path", json("?"))) << "\n";
  os << "  format: " << text(j.value("format", json("?")));
  if (j.contains("inspector")) os << " (inspector " << text(j["inspector"].value("id", json("?"))) << ")";
  os << "\n";
  if (j.contains("summary")) os << "  summary: " << text(j["summary"]) << "\n";
  for (const auto& f : j.value("files", json::array()))
    os << "  file: " << text(f.value("path", json("?"))) << " (" << human_bytes(bytes_of(f.value("bytes", json())))
       << ", header " << text(f.value("header_bytes", json("?"))) << " bytes, " << text(f.value("tensors", json("?")))
       << " tensors)\n";
  if (j.contains("tensor_count") && j.contains("total_bytes"))
    os << "tensors: " << text(j["tensor_count"]) << ", " << human_bytes(bytes_of(j["total_bytes"])) << " ("
       << text(j["total_bytes"]) << " bytes)\n";
  if (j.contains("dtypes")) {
    os << "dtypes:";
    for (const auto& [name, d] : j["dtypes"].items())
      os << " " << host::printable(name) << " x" << text(d.value("tensors", json("?"))) << " ("
         << human_bytes(bytes_of(d.value("bytes", json()))) << ")";
    os << "\n";
  }
  const json metadata = j.value("metadata", json::object());  // named: items() must not outlive it
  for (const auto& [k, v] : metadata.items()) os << "metadata: " << host::printable(k) << " = " << text(v) << "\n";
}

void print_component(const json& c, std::ostream& os) {
  os << "layout: " << text(c.value("kind", json("?"))) << " (" << text(c.value("layout", json("?"))) << " keys";
  if (!c.value("prefix", std::string()).empty()) os << ", prefix '" << text(c["prefix"]) << "'";
  os << ", " << text(c.value("tensors", json("?"))) << " tensors)\n";
  if (c.contains("config") && c["config"].is_object()) {
    os << "  config:";
    for (const auto& [k, v] : c["config"].items())
      os << " " << host::printable(k) << "=" << (v.is_null() ? "unknown" : v.dump());
    os << "\n";
  }
  if (c.contains("parameters")) os << "  parameters: " << text(c["parameters"]) << "\n";
  if (c.contains("config_error")) os << "  config: cannot infer: " << text(c["config_error"]) << "\n";
}

void print_tensors(const json& tensors, std::ostream& os) {
  std::size_t width = 4;
  for (const auto& t : tensors) width = std::max(width, text(t.value("name", json(""))).size());
  os << std::left << std::setw(static_cast<int>(width) + 2) << "NAME" << std::setw(9) << "DTYPE" << "SHAPE\n";
  for (const auto& t : tensors) {
    os << std::setw(static_cast<int>(width) + 2) << text(t.value("name", json(""))) << std::setw(9)
       << text(t.value("dtype", json("?"))) << shape_text(t.value("shape", json::array()));
    if (t.contains("file")) os << "  " << text(t["file"]);
    os << "\n";
  }
}

}  // namespace

// Everything in the report comes from the file and the plugin: each line is made printable (no terminal
// control characters, no invalid UTF-8) before it reaches the terminal.
void print_inspect_report(const json& j, std::ostream& os) {
  std::ostringstream raw;
  print_header(j, raw);
  for (const auto& line : j.value("notes", json::array())) raw << text(line) << "\n";
  for (const auto& c : j.value("components", json::array())) print_component(c, raw);
  if (j.contains("tensors") && j["tensors"].is_array()) print_tensors(j["tensors"], raw);
  std::istringstream lines(raw.str());
  for (std::string line; std::getline(lines, line);) os << host::printable(line) << "\n";
}

}  // namespace genplug::cli
