// genplug posenc — prints the rotary spectrum a posenc plugin gives for one image size and diffusion time,
// so it can be compared with other ports:
//
//   genplug posenc --plugin org.genplug.dype --config '{"method":"dy-yarn"}' --height 4096 --width 4096 --t 0.5
//
// Output: {"axes":[{"dim":16,"freqs":[...],"mscale":1.0},...]} with every double at round-trip precision.
// Without --layout the FLUX layout is used (dims 16, 56, 56, theta 10000, base 64 x 64 tokens of 16 px).
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include <genplug/host.hpp>

#include "command.hpp"

namespace genplug::cli {
namespace {

using host::ErrorKind;
using host::HostError;
using nlohmann::json;

struct PosencOptions {
  std::string plugin = "org.genplug.dype";
  std::string config = "{}";
  std::string layout;  // JSON; empty = FLUX
  uint32_t height = 0;
  uint32_t width = 0;
  std::vector<uint32_t> extent;  // tokens per axis, instead of --height/--width
  double t = 1.0;
};

json parse_json_option(const std::string& option, const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw HostError(ErrorKind::usage, option + ": not valid JSON: " + e.what());
  }
}

template <class T>
T layout_field(const json& value, const std::string& name) {
  try {
    return value.get<T>();
  } catch (const json::exception&) {
    throw HostError(ErrorKind::usage, "--layout." + name + ": wrong type, got " + value.dump());
  }
}

// FLUX's layout with the fields given in --layout replaced.
RotaryLayout parse_layout(const std::string& text) {
  RotaryLayout layout = RotaryLayout::flux();
  if (text.empty()) return layout;
  const json j = parse_json_option("--layout", text);
  if (!j.is_object()) throw HostError(ErrorKind::usage, "--layout: expected a JSON object, got " + j.dump());
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    if (key == "axis_dims")
      layout.axis_dims = layout_field<std::vector<uint32_t>>(item.value(), key);
    else if (key == "theta")
      layout.theta = layout_field<double>(item.value(), key);
    else if (key == "base_extent")
      layout.base_extent = layout_field<std::vector<uint32_t>>(item.value(), key);
    else if (key == "pixels_per_token")
      layout.pixels_per_token = layout_field<uint32_t>(item.value(), key);
    else
      throw HostError(ErrorKind::usage, "--layout." + key +
                                            ": unknown field (known: axis_dims, theta, base_extent, pixels_per_token)");
  }
  if (layout.base_extent.size() != layout.axis_dims.size())
    throw HostError(ErrorKind::usage, "--layout: base_extent has " + std::to_string(layout.base_extent.size()) +
                                          " values for " + std::to_string(layout.axis_dims.size()) + " axes");
  return layout;
}

// Tokens per axis: --extent as given, else (1, height / px_per_token, width / px_per_token).
std::vector<uint32_t> target_extent(const PosencOptions& o, const RotaryLayout& layout) {
  const std::size_t axes = layout.axis_dims.size();
  if (!o.extent.empty()) {
    if (o.extent.size() != axes)
      throw HostError(ErrorKind::usage, "--extent: " + std::to_string(o.extent.size()) + " values for a layout of " +
                                            std::to_string(axes) + " axes");
    return o.extent;
  }
  if (o.height == 0 || o.width == 0)
    throw HostError(ErrorKind::usage, "--height and --width (pixels) are required unless --extent is given");
  if (axes != 3)
    throw HostError(ErrorKind::usage, "--height/--width need a 3-axis layout (index, rows, cols); this one has " +
                                          std::to_string(axes) + " axes: use --extent");
  if (layout.pixels_per_token == 0) throw HostError(ErrorKind::usage, "--layout.pixels_per_token: must be >= 1");
  const uint32_t ppt = layout.pixels_per_token;
  if (o.height < ppt || o.width < ppt)
    throw HostError(ErrorKind::usage, "--height/--width: at least one token of " + std::to_string(ppt) +
                                          " px is needed, got " + std::to_string(o.height) + "x" +
                                          std::to_string(o.width));
  return {1u, o.height / ppt, o.width / ppt};
}

void run_posenc(const PosencOptions& o, const Globals& globals) {
  if (!(o.t >= 0.0 && o.t <= 1.0)) throw HostError(ErrorKind::usage, "--t: must be in [0, 1], got " + json(o.t).dump());
  const json config = parse_json_option("--config", o.config);
  if (!config.is_object()) throw HostError(ErrorKind::usage, "--config: expected a JSON object, got " + config.dump());
  const RotaryLayout layout = parse_layout(o.layout);
  const std::vector<uint32_t> target = target_extent(o, layout);

  host::PluginCatalog catalog = globals.catalog();
  CallContext ctx;
  PosencProxy posenc;
  try {
    posenc = catalog.create_posenc(o.plugin, config, ctx, "--config");
  } catch (const HostError& e) {
    // A config rejected by the schema or the plugin is a command-line problem here, not a manifest one.
    throw HostError(e.kind() == ErrorKind::manifest ? ErrorKind::usage : e.kind(), e.what());
  }
  Spectrum spectrum;
  try {
    spectrum = posenc.compute(layout, target, o.t, ctx);
  } catch (const PluginError& e) {
    throw HostError(e.code() == GENPLUG_E_INVALID_ARGUMENT ? ErrorKind::usage : ErrorKind::plugin, e.what());
  } catch (const std::invalid_argument& e) {
    throw HostError(ErrorKind::usage, e.what());
  }

  json axes = json::array();
  std::size_t offset = 0;
  for (std::size_t a = 0; a < spectrum.axis_dims.size(); ++a) {
    const std::size_t n = spectrum.axis_dims[a] / 2;
    axes.push_back({{"dim", spectrum.axis_dims[a]},
                    {"freqs", std::vector<double>(spectrum.freqs.begin() + long(offset),
                                                  spectrum.freqs.begin() + long(offset + n))},
                    {"mscale", spectrum.amplitude[a]}});
    offset += n;
  }
  std::cout << json{{"axes", axes}}.dump(2) << "\n";
}

const RegisterCommand kPosenc(
    "posenc", "Print the rotary frequency spectrum a posenc plugin gives for one size and time t (JSON)",
    [](CLI::App& cmd, Globals& globals) {
      auto o = std::make_shared<PosencOptions>();
      cmd.add_option("--plugin", o->plugin, "Posenc plugin id")->capture_default_str()->type_name("ID");
      cmd.add_option("--config", o->config, "Plugin config, a JSON object")->capture_default_str()->type_name("JSON");
      cmd.add_option("--layout", o->layout,
                     "Rotary layout JSON {axis_dims, theta, base_extent, pixels_per_token}; absent fields (or no "
                     "option) take FLUX's: dims 16,56,56, theta 10000, base 1,64,64 tokens, 16 px/token")
          ->type_name("JSON");
      cmd.add_option("--height", o->height, "Image height in pixels")->type_name("PX");
      cmd.add_option("--width", o->width, "Image width in pixels")->type_name("PX");
      cmd.add_option("--extent", o->extent, "Target tokens per axis instead of --height/--width")
          ->type_name("TOKENS")
          ->delimiter(',');
      cmd.add_option("--t", o->t, "Diffusion time in [0, 1] (1 = pure noise)")->capture_default_str()->type_name("T");
      cmd.callback([o, &globals] { run_posenc(*o, globals); });
    });

}  // namespace
}  // namespace genplug::cli
