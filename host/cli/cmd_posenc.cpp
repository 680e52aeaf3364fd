// genplug posenc — prints the rotary spectrum a posenc plugin gives for one image size and diffusion time,
// so it can be compared with other ports:
//
//   genplug posenc --plugin org.genplug.dype --config '{"method":"dy-yarn"}' --height 4096 --width 4096 --t 0.5
//
// Output: {"axes":[{"dim":16,"freqs":[...],"mscale":1.0},...]} with every double at round-trip precision.
// The layout is given (--layout JSON or @FILE; samples/layouts/flux.json is FLUX.1's): the CLI knows no model.
#include <cstdint>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include <genplug/host.hpp>

#include "cli_options.hpp"
#include "standard_output.hpp"

namespace genplug::cli::posenc_command {
namespace {

using host::ErrorKind;
using host::HostError;
using nlohmann::json;

struct PosencOptions {
  std::string plugin = "org.genplug.dype";
  std::string config = "{}";
  std::string layout;  // JSON text or @FILE
  uint32_t height = 0;
  uint32_t width = 0;
  bool size_given = false;  // --height and --width both given (0 included)
  std::vector<std::string> extent_text;  // --extent: tokens per axis, instead of --height/--width
  bool extent_given = false;
  double t = 1.0;
};

template <class T>
T layout_field(const json& value, const std::string& name) {
  try {
    return value.get<T>();
  } catch (const json::exception&) {
    throw HostError(ErrorKind::usage, "--layout." + name + ": wrong type, got " + value.dump());
  }
}

// A count or size of the layout: a JSON integer in [0, 2^32) (nlohmann's get<uint32_t> would wrap -1 or 2^32 + 64
// and truncate 1.5 silently).
uint32_t layout_uint(const json& v, const std::string& name) {
  const bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() <= UINT32_MAX
                                               : v.is_number_integer() && v.get<int64_t>() >= 0;
  if (!in_range)
    throw HostError(ErrorKind::usage, "--layout." + name + ": expected an integer from 0 to 4294967295, got " + v.dump());
  return v.get<uint32_t>();
}

constexpr std::size_t kMaxAxes = 64;  // more is a mistyped layout, as DyPE also says

// A per-axis array of the layout, refused by its length before any element is read.
const json::array_t& layout_axes(const json& v, const std::string& name) {
  if (!v.is_array()) throw HostError(ErrorKind::usage, "--layout." + name + ": wrong type, got " + v.dump());
  if (v.size() > kMaxAxes)
    throw HostError(ErrorKind::usage, "--layout." + name + ": 1 to 64 axes, got " + std::to_string(v.size()));
  return v.get_ref<const json::array_t&>();
}

std::vector<uint32_t> layout_uints(const json& v, const std::string& name) {
  std::vector<uint32_t> values;
  const json::array_t& axes = layout_axes(v, name);
  for (std::size_t a = 0; a < axes.size(); ++a)
    values.push_back(layout_uint(axes[a], name + "[" + std::to_string(a) + "]"));
  return values;
}

uint32_t axis_flag(const json& v, const std::string& where) {
  const std::string name = v.is_string() ? v.get<std::string>() : "";
  if (name == "spatial") return GENPLUG_AXIS_SPATIAL;
  if (name == "temporal") return GENPLUG_AXIS_TEMPORAL;
  if (name == "index") return 0;
  throw HostError(ErrorKind::usage, where + ": expected \"index\", \"spatial\" or \"temporal\", got " + v.dump());
}

// A rotary layout from --layout: JSON text, or @FILE holding it (samples/layouts/ has FLUX's). Every field but
// axis_flags and description is required: the CLI holds no model's numbers.
RotaryLayout parse_layout(const std::string& text) {
  if (text.empty())
    throw HostError(ErrorKind::usage, "--layout is required: a JSON object {axis_dims, theta, base_extent, "
                                      "pixels_per_token[, axis_flags]} or @FILE (FLUX.1: @samples/layouts/flux.json)");
  const json j = json_object_option("--layout", text);
  RotaryLayout layout;
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    if (key == "axis_dims")
      layout.axis_dims = layout_uints(item.value(), key);
    else if (key == "theta")
      layout.theta = layout_field<double>(item.value(), key);
    else if (key == "base_extent")
      layout.base_extent = layout_uints(item.value(), key);
    else if (key == "pixels_per_token")
      layout.pixels_per_token = layout_uint(item.value(), key);
    else if (key == "axis_flags")
      for (const json& flag : layout_axes(item.value(), key))
        layout.axis_flags.push_back(
            axis_flag(flag, "--layout.axis_flags[" + std::to_string(layout.axis_flags.size()) + "]"));
    else if (key != "description")
      throw HostError(ErrorKind::usage, "--layout." + key +
                                            ": unknown field (known: axis_dims, axis_flags, theta, base_extent, "
                                            "pixels_per_token, description)");
  }
  for (const char* key : {"axis_dims", "theta", "base_extent", "pixels_per_token"})
    if (!j.contains(key)) throw HostError(ErrorKind::usage, std::string("--layout.") + key + ": missing");
  // The spectrum's buffers are allocated before the plugin sees the layout: bound them here (a rotary head dim
  // beyond 65 536, or more than 64 axes, is a mistyped layout, as DyPE also says).
  if (layout.axis_dims.empty() || layout.axis_dims.size() > kMaxAxes)
    throw HostError(ErrorKind::usage, "--layout.axis_dims: 1 to 64 axes, got " + std::to_string(layout.axis_dims.size()));
  for (std::size_t a = 0; a < layout.axis_dims.size(); ++a)
    if (layout.axis_dims[a] > 65536)
      throw HostError(ErrorKind::usage, "--layout.axis_dims[" + std::to_string(a) + "]: must be <= 65536, got " +
                                            std::to_string(layout.axis_dims[a]));
  if (layout.base_extent.size() != layout.axis_dims.size() ||
      (!layout.axis_flags.empty() && layout.axis_flags.size() != layout.axis_dims.size()))
    throw HostError(ErrorKind::usage, "--layout: base_extent and axis_flags need one value per axis (" +
                                          std::to_string(layout.axis_dims.size()) + " axes)");
  return layout;
}

// Whether axis a is spatial: its flag, or (no flags, ABI 1.0's rule) every axis but axis 0.
bool spatial(const RotaryLayout& layout, std::size_t a) {
  return layout.axis_flags.empty() ? a > 0 : (layout.axis_flags[a] & GENPLUG_AXIS_SPATIAL) != 0;
}

// --extent's values (`--extent 1,64,64`, `--extent 1 64 64` or the option repeated): whole numbers of tokens,
// each as decimal_integer reads an option. An empty item is refused, not skipped: "1,,64" is no extent of two axes
// (CLI11's own splitting at commas drops it).
std::vector<uint32_t> extent_values(const std::vector<std::string>& given) {
  std::string text;
  for (size_t i = 0; i < given.size(); ++i) text += (i > 0 ? "," : "") + given[i];
  const CLI::Validator whole = decimal_integer_for(uint32_t{});
  std::vector<uint32_t> values;
  for (size_t from = 0;;) {
    const size_t comma = text.find(',', from);
    std::string item = text.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    const std::string error = whole(item);
    if (!error.empty())
      throw HostError(ErrorKind::usage, "--extent: item " + std::to_string(values.size() + 1) + " " + error);
    values.push_back(uint32_t(std::stoul(item)));
    if (comma == std::string::npos) return values;
    from = comma + 1;
  }
}

// A size in pixels as tokens of `ppt` pixels: a whole number of them, at least one, as a render's size must be
// (the model's geometry refuses others; posenc had floored them, printing the spectrum of another size).
uint32_t whole_tokens(const char* option, uint32_t px, uint32_t ppt) {
  if (px >= ppt && px % ppt == 0) return px / ppt;
  const std::string where = std::string(option) + ": " + std::to_string(px) + " px ";
  if (px < ppt)
    throw HostError(ErrorKind::usage, where + "is less than one of the layout's " + std::to_string(ppt) + " px tokens");
  const uint64_t below = uint64_t(px) / ppt * ppt, above = below + ppt;  // the larger only where the option takes it
  const std::string sizes = std::to_string(below) + (above <= UINT32_MAX ? " or " + std::to_string(above) : "");
  throw HostError(ErrorKind::usage, where + "is not a whole number of the layout's " + std::to_string(ppt) +
                                        " px tokens (" + sizes + " is; --extent gives tokens)");
}

// Tokens per axis: --extent as given, else height and width over the layout's two spatial axes (rows, then
// cols) in tokens of pixels_per_token, and 1 on every other axis.
std::vector<uint32_t> target_extent(const PosencOptions& o, const RotaryLayout& layout) {
  const std::size_t axes = layout.axis_dims.size();
  if (o.extent_given) {
    const std::vector<uint32_t> extent = extent_values(o.extent_text);
    if (extent.size() != axes)
      throw HostError(ErrorKind::usage, "--extent: " + std::to_string(extent.size()) + " values for a layout of " +
                                            std::to_string(axes) + " axes");
    return extent;
  }
  if (!o.size_given)
    throw HostError(ErrorKind::usage, "--height and --width (pixels) are required unless --extent is given");
  std::vector<std::size_t> rows_cols;
  for (std::size_t a = 0; a < axes; ++a)
    if (spatial(layout, a)) rows_cols.push_back(a);
  if (rows_cols.size() != 2)
    throw HostError(ErrorKind::usage, "--height/--width need a layout with two spatial axes (rows, cols); this one "
                                      "has " + std::to_string(rows_cols.size()) + ": use --extent");
  if (layout.pixels_per_token == 0) throw HostError(ErrorKind::usage, "--layout.pixels_per_token: must be >= 1");
  std::vector<uint32_t> extent(axes, 1u);
  extent[rows_cols[0]] = whole_tokens("--height", o.height, layout.pixels_per_token);
  extent[rows_cols[1]] = whole_tokens("--width", o.width, layout.pixels_per_token);
  return extent;
}

void run_posenc(const PosencOptions& o, const Globals& globals) {
  const json config = json_object_option("--config", o.config);
  const RotaryLayout layout = parse_layout(o.layout);
  const std::vector<uint32_t> target = target_extent(o, layout);

  host::PluginCatalog catalog = globals.catalog();
  CallContext ctx;
  log_to_stderr(ctx, globals);
  PosencProxy posenc = create_from_option([&] { return catalog.create_posenc(o.plugin, config, ctx, "--config"); });
  Spectrum spectrum;
  try {
    spectrum = posenc.compute(layout, target, o.t, ctx);
  } catch (const PluginError& e) {
    throw HostError(tool_call_error_kind(e.code()), e.what());
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
  product() << json{{"axes", axes}}.dump(2) << "\n";
}

const RegisterCommand kPosenc(
    "posenc", "Print the rotary frequency spectrum a posenc plugin gives for one size and time t (JSON)",
    [](CLI::App& cmd, Globals& globals) {
      auto o = std::make_shared<PosencOptions>();
      cmd.add_option("--plugin", o->plugin, "Posenc plugin id")->capture_default_str()->type_name("ID");
      cmd.add_option("--config", o->config, "Plugin config, a JSON object")->capture_default_str()->type_name("JSON");
      cmd.add_option("--layout", o->layout,
                     "Rotary layout: JSON {axis_dims, theta, base_extent, pixels_per_token[, axis_flags]} or @FILE "
                     "(FLUX.1: @samples/layouts/flux.json)")
          ->type_name("JSON|@FILE");
      cmd.add_option("--height", o->height, "Image height in pixels, a whole number of the layout's tokens")
          ->type_name("PX")
          ->transform(decimal_integer_for(o->height));
      cmd.add_option("--width", o->width, "Image width in pixels, a whole number of the layout's tokens")
          ->type_name("PX")
          ->transform(decimal_integer_for(o->width));
      cmd.add_option("--extent", o->extent_text,
                     "Target tokens per axis instead of --height/--width, comma separated")
          ->type_name("TOKENS,...");
      cmd.add_option("--t", o->t, "Diffusion time in [0, 1] (1 = pure noise)")
          ->capture_default_str()
          ->type_name("T")
          ->check(number_in(0.0, 1.0, "a number in [0, 1]"));
      cmd.callback([o, &globals, &cmd] {
        o->size_given = cmd.count("--height") > 0 && cmd.count("--width") > 0;
        o->extent_given = cmd.count("--extent") > 0;
        if (cmd.count("--extent") > 0 && (cmd.count("--height") > 0 || cmd.count("--width") > 0))
          throw HostError(ErrorKind::usage, "--extent replaces --height/--width: give one or the other");
        run_posenc(*o, globals);
      });
    });

}  // namespace
}  // namespace genplug::cli::posenc_command
