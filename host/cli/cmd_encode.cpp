// genplug encode — writes a precomputed text conditioning file (safetensors: txt [1, T, context], vec [1, vec])
// from a prompt. The CLI does not link torch: it creates the FLUX model plugin with tiny random transformer
// weights (only the text dims matter), "vae": "none" and the given text config, calls condition(prompt) and
// writes the CPU float32 tensors it returns. See docs/text.md.
// --show-tokens prints instead what FLUX's tokenizers make of the prompt (cleaned text, ids, pieces), through the
// tokenize extension of the torch-free FLUX inspector (GENPLUG_EXT_INSPECTOR_TOKENIZE): no model is created.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <cstring>

#include <unistd.h>

#include <genplug/host/cancel_signals.hpp>
#include <genplug/host/json_schema.hpp>
#include <genplug/host/printable.hpp>
#include <genplug/inspector.h>
#include <genplug/internal/bounded_json.hpp>
#include <genplug/internal/regular_file.hpp>

#include "atomic_output.hpp"
#include "cli_options.hpp"
#include "f32_safetensors.hpp"
#include "mapped_file_fault.hpp"
#include "standard_output.hpp"

namespace genplug::cli::encode_command {
namespace {

using host::ErrorKind;
using host::HostError;
using nlohmann::json;

struct EncodeOptions {
  std::string prompt, prompt_file, output;
  std::string plugin = "org.genplug.flux", text = "{}", inspector = "org.genplug.flux.inspect";
  std::string t5, t5_tokenizer, clip, clip_tokenizer, text_device, text_dtype;
  int64_t max_length = 0, context_dim = 4096, vec_dim = 768;
  bool random = false, force = false, show_tokens = false;
};

// A prompt is at most 64 KiB, as one in a manifest's prompts file; a file is read up to 1 MiB to say so.
constexpr std::size_t kMaxPromptBytes = std::size_t(64) << 10, kMaxPromptFileBytes = std::size_t(1) << 20;

// --prompt-file PATH ("-": standard input): the whole text is one prompt, for one kept in a file or with quotes and
// line breaks a shell would need escaped. A leading UTF-8 BOM and one final line end (LF or CR LF) are dropped, as
// an editor or `echo` adds them; a UTF-16 file, a NUL byte (the prompt is C text across the ABI), a blank prompt
// and one over 64 KiB are refused.
std::string prompt_from_file(const std::string& path) {
  const std::string where = "--prompt-file " + (path == "-" ? std::string("-") : "'" + host::printable(path) + "'");
  std::string text;
  if (path == "-") {  // a FIFO or terminal is read, as `-` asks
    try {
      text = genplug::internal::read_up_to(STDIN_FILENO, kMaxPromptFileBytes + 1);
    } catch (const genplug::internal::UnreadableFile& e) {
      throw HostError(unreadable_option_file_kind(e), "--prompt-file -: standard input " + std::string(e.what()));
    }
  } else {
    try {  // a FIFO is refused, not waited on; /dev/zero is not read for ever
      text = genplug::internal::read_regular_file(path, kMaxPromptFileBytes);
    } catch (const genplug::internal::UnreadableFile& e) {
      std::error_code ec;
      if (std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) > kMaxPromptFileBytes)
        throw HostError(ErrorKind::usage, where + ": the prompt is over 64 KiB");
      throw HostError(unreadable_option_file_kind(e),
                      "--prompt-file: cannot read '" + host::printable(path) + "': it " + e.what());
    }
  }
  if (text.rfind("\xFF\xFE", 0) == 0 || text.rfind("\xFE\xFF", 0) == 0)
    throw HostError(ErrorKind::usage, where + ": the file is UTF-16; save it as UTF-8");
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.size() > kMaxPromptBytes) throw HostError(ErrorKind::usage, where + ": the prompt is over 64 KiB");
  if (const auto nul = text.find('\0'); nul != std::string::npos)
    throw HostError(ErrorKind::usage, where + ": a NUL byte at offset " + std::to_string(nul) + " (a prompt is text)");
  if (text.find_first_not_of(" \t\r\n\f\v") == std::string::npos)
    throw HostError(ErrorKind::usage, where + ": the prompt is empty");
  return text;
}

// --text: inline JSON or @file.
// The text config: --text, then the individual flags over it.
json text_config(const EncodeOptions& o) {
  json text = json_object_option("--text", o.text);
  auto set = [&](const char* key, const std::string& v) {
    if (!v.empty()) text[key] = v;
  };
  set("t5", o.t5);
  set("t5_tokenizer", o.t5_tokenizer);
  set("clip", o.clip);
  set("clip_tokenizer", o.clip_tokenizer);
  set("text_device", o.text_device);
  set("text_dtype", o.text_dtype);
  if (o.max_length > 0) text["max_length"] = o.max_length;
  if (o.random && !text.value("random", json()).is_object()) text["random"] = true;  // --text's options stay
  if (text.empty())
    throw HostError(ErrorKind::usage, "no text encoders: give --t5/--clip (and tokenizers), --text JSON or --random");
  return text;
}

// A conditioning tensor as safetensors data; the plugin hands back CPU float32 (condition() on a CPU model).
F32Tensor to_tensor_data(const std::string& name, const ManagedTensor& t) {
  const DLTensor& d = t.tensor();
  if (d.device.device_type != kDLCPU || d.dtype.code != kDLFloat || d.dtype.bits != 32 || d.dtype.lanes != 1)
    throw HostError(ErrorKind::runtime, "condition: tensor '" + name + "' is not CPU float32");
  std::vector<int64_t> shape(d.shape, d.shape + d.ndim);
  if (d.strides) {  // must be row-major compact
    int64_t expected = 1;
    for (int i = d.ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && d.strides[i] != expected)
        throw HostError(ErrorKind::runtime, "condition: tensor '" + name + "' is not contiguous");
      expected *= shape[i];
    }
  }
  F32Tensor out;
  out.name = name;
  out.shape = shape;
  out.values.resize(static_cast<std::size_t>(t.numel()));
  if (!out.values.empty())
    std::memcpy(out.values.data(), static_cast<const uint8_t*>(d.data) + d.byte_offset, out.values.size() * 4);
  return out;
}

// Ids as one line of numbers.
std::string join_ids(const json& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : " ") + id.dump();
  return out;
}

// Pieces as one line, each in brackets so that spaces and empty pieces stay visible, escaped for the terminal.
std::string join_pieces(const json& pieces) {
  std::string out;
  for (const auto& p : pieces) out += (out.empty() ? "[" : " [") + host::printable(p.is_string() ? p.get<std::string>() : p.dump()) + "]";
  return out;
}

// --show-tokens: the tokenize extension's report, as text (or the JSON itself with --json).
void run_show_tokens(const EncodeOptions& o, const Globals& globals, bool as_json) {
  const json text = text_config(o);
  host::PluginCatalog catalog = globals.catalog();
  CallContext ctx;
  log_to_stderr(ctx, globals);
  InspectorProxy inspector = create_from_option([&] { return catalog.create_inspector(o.inspector, json::object(), ctx); });
  const auto* table =
      static_cast<const genplug_inspector_tokenize_t*>(inspector.extension(GENPLUG_EXT_INSPECTOR_TOKENIZE));
  if (!GENPLUG_HAS_FIELD(table, genplug_inspector_tokenize_t, tokenize) || !table->tokenize)
    throw HostError(ErrorKind::usage, o.inspector + ": this inspector cannot tokenize (no " GENPLUG_EXT_INSPECTOR_TOKENIZE ")");
  const char* out = nullptr;
  try {
    ctx.check(table->tokenize(inspector.raw(), text.dump().c_str(), o.prompt.c_str(), &out, ctx.get()),
              o.inspector + ": tokenize");
  } catch (const PluginError& e) {
    throw HostError(e.code() == GENPLUG_E_INVALID_ARGUMENT || e.code() == GENPLUG_E_CONFIG ? ErrorKind::usage
                                                                                            : ErrorKind::runtime,
                    e.what());
  }
  if (!out) throw HostError(ErrorKind::runtime, o.inspector + ": tokenize returned success but no text");
  json report;
  try {
    report = json::parse(out);
  } catch (const json::exception& e) {
    throw HostError(ErrorKind::runtime, o.inspector + ": tokenize returned invalid JSON: " + genplug::internal::json_error_text(e));
  }
  if (!report.is_object() || !report.contains("tokenizers") || !report["tokenizers"].is_array())
    throw HostError(ErrorKind::runtime, o.inspector + ": tokenize returned no \"tokenizers\" list");
  if (as_json) {
    product() << report.dump(2, ' ', true, json::error_handler_t::replace) << "\n";
    return;
  }
  product() << "prompt: " << host::printable(o.prompt) << "\n";
  for (const auto& t : report["tokenizers"]) {
    const auto str = [&](const char* key) { return t.contains(key) && t[key].is_string() ? t[key].get<std::string>() : std::string(); };
    const json ids = t.value("ids", json::array()), pieces = t.value("pieces", json::array());
    product() << host::printable(str("name")) << " (" << host::printable(str("file")) << ")\n"
              << "  text:   " << host::printable(str("text")) << "\n"
              << "  ids:    " << join_ids(ids) << "  (" << ids.size() << " of max " << t.value("max_length", json()).dump()
              << (t.value("dropped", 0) > 0 ? ", " + std::to_string(t.value("dropped", 0)) + " dropped" : std::string())
              << ")\n"
              << "  pieces: " << join_pieces(pieces) << "\n";
  }
}

// --text against the part of the model plugin's schema that describes its config.text, where there is one: errors
// then name --text's own keys ("--text.random: unknown key"), not the config encode builds around them. A part that
// cannot stand alone (a $ref into the whole schema) is left to create, which checks the whole config.
void check_text_option(const host::PluginCatalog& catalog, const std::string& plugin, const json& text) {
  for (const host::PluginRecord& p : catalog.plugins()) {
    if (p.id != plugin || !p.schema.is_object() || !p.schema.contains("properties")) continue;
    const json& properties = p.schema["properties"];
    if (!properties.is_object() || !properties.contains("text")) continue;
    std::vector<host::SchemaViolation> problems;
    try {
      problems = host::JsonSchema(properties["text"]).validate(text, "--text");
    } catch (const host::SchemaError&) {
      return;
    }
    if (problems.empty()) return;
    std::string message = problems.front().path + ": " + problems.front().message;
    if (problems.size() > 1) message += " (and " + std::to_string(problems.size() - 1) + " more)";
    throw HostError(ErrorKind::usage, message + " [plugin " + plugin + "]");
  }
}

// The transformer encode builds is its own, so a width it "expects" is --context-dim's or --vec-dim's: say so.
std::string width_hint(const std::string& message) {
  const bool context = message.find("context_in_dim") != std::string::npos;
  const bool vec = message.find("vec_in_dim") != std::string::npos;
  if (!context && !vec) return "";
  return std::string(" (encode's ") + (context ? "--context-dim" : "") + (context && vec ? " and " : "") +
         (vec ? "--vec-dim" : "") + (context && vec ? " set" : " sets") +
         " what the transformer expects: give the encoders' widths)";
}

void run_encode(const EncodeOptions& o, const Globals& globals) {
  const json text = text_config(o);
  if (o.output.empty()) throw HostError(ErrorKind::usage, "--output is required (unless --show-tokens)");
  // Before anything is encoded: the name fits, the file is not there (unless --force), and the output's folder
  // takes a file (a temporary one is created and removed; that refuses /proc too). A signal from here on leaves
  // no temporary file behind.
  if (std::filesystem::path(o.output).filename().string().size() > 255)
    throw HostError(ErrorKind::output, "'" + o.output + "': the file name is longer than 255 bytes");
  // A folder, FIFO or device is never replaced, --force or not: say so rather than "exists".
  if (const std::string why = internal::unreplaceable_reason(host::written_path(o.output)); !why.empty())
    host::fail_output(o.output, why);
  std::error_code ec;
  if (!o.force && std::filesystem::exists(o.output, ec))
    throw HostError(ErrorKind::output, "'" + o.output + "' exists (use --force to overwrite)");
  { host::TemporaryFile probe(o.output); }
  host::install_exit_signals();
  // Tiny random transformer: nothing but the text dims and the encoders is used.
  const json model_config = {{"transformer", "random"},
                             {"preset", "tiny"},
                             {"config", {{"context_in_dim", o.context_dim}, {"vec_in_dim", o.vec_dim}}},
                             {"vae", "none"},
                             {"device", "cpu"},
                             {"dtype", "f32"},
                             {"text", text}};
  host::PluginCatalog catalog = globals.catalog();
  CallContext ctx;
  log_to_stderr(ctx, globals);
  check_text_option(catalog, o.plugin, text);
  // Named "encode", not "--text": the plugin may refuse for the machine's sake (ulimit -v), not --text's.
  ModelProxy model = create_from_option([&] { return catalog.create_model(o.plugin, model_config, ctx, "encode"); });
  std::vector<std::pair<std::string, ManagedTensor>> tensors;
  try {
    tensors = model.condition(o.prompt, "", ctx);
  } catch (const PluginError& e) {
    throw HostError(e.code() == GENPLUG_E_INVALID_ARGUMENT || e.code() == GENPLUG_E_CONFIG ? ErrorKind::usage
                    : e.code() == GENPLUG_E_OUT_OF_MEMORY                                  ? ErrorKind::retryable
                                                                                            : ErrorKind::runtime,
                    e.what() + width_hint(e.what()));
  }
  std::vector<F32Tensor> data;
  for (const auto& [name, t] : tensors) data.push_back(to_tensor_data(name, t));
  for (const char* needed : {"txt", "vec"})
    if (std::none_of(data.begin(), data.end(), [&](const F32Tensor& d) { return d.name == needed; }))
      throw HostError(ErrorKind::runtime, std::string("condition: plugin gave no '") + needed + "' tensor");
  try {
    write_f32_safetensors(o.output, data,
                          {{"format", "genplug.flux.conditioning/1"}, {"prompt", o.prompt}, {"text", text.dump()},
                           {"plugin", o.plugin}},
                          o.force);
  } catch (const HostError&) {
    throw;  // names the file already
  } catch (const std::exception& e) {
    throw HostError(ErrorKind::output, "cannot write '" + o.output + "': " + e.what());
  }
  // On stderr, as run's "wrote" lines: the file is the product, and stdout failing now (a full disk) must not turn
  // a command whose file is written into a retryable failure that the retry then finds "exists".
  if (!globals.quiet) {
    std::ostringstream line;
    line << "genplug: wrote " << host::printable(o.output) << ":";
    for (const auto& d : data) {
      line << " " << d.name << " [";
      for (std::size_t i = 0; i < d.shape.size(); ++i) line << (i ? ", " : "") << d.shape[i];
      line << "]";
    }
    std::cerr << line.str() << "\n";
  }
}

const RegisterCommand kEncode(
    "encode", "Write precomputed text conditioning (txt, vec) for a prompt to a safetensors file",
    [](CLI::App& cmd, Globals& globals) {
      static EncodeOptions o;
      CLI::Option* prompt = cmd.add_option("-p,--prompt", o.prompt, "The prompt (UTF-8)");
      cmd.add_option("--prompt-file", o.prompt_file,
                     "Read the prompt from a file, or standard input for '-' (the whole text, up to 64 KiB)")
          ->excludes(prompt);
      cmd.add_option("-o,--output", o.output, "Conditioning file to write (.safetensors)");
      cmd.add_option("--text", o.text, "Text config as JSON or @file (keys as the FLUX plugin's config.text)");
      cmd.add_option("--t5", o.t5, "T5 encoder: t5xxl_*.safetensors or a diffusers text_encoder_2/ folder");
      cmd.add_option("--t5-tokenizer", o.t5_tokenizer, "spiece.model");
      cmd.add_option("--clip", o.clip, "CLIP-L text encoder: clip_l.safetensors or a diffusers text_encoder/ folder");
      cmd.add_option("--clip-tokenizer", o.clip_tokenizer, "vocab.json + merges.txt folder or bpe_simple_vocab_16e6.txt.gz");
      cmd.add_option("--max-length", o.max_length, "T5 tokens (512 for dev, 256 for schnell)")
          ->transform(decimal_integer(1, 1 << 20));
      cmd.add_option("--text-device", o.text_device, "Device the encoders run on (cpu, cuda, cuda:N)");
      cmd.add_option("--text-dtype", o.text_dtype, "float32, bfloat16 or float16");
      cmd.add_flag("--random", o.random, "Tiny random encoders (demo; no files)");
      // Widths of text encoders' outputs, bounded here: the tiny transformer that carries them would otherwise be
      // refused for its weights' memory, a message about a preset and dtype this command never showed.
      cmd.add_option("--context-dim", o.context_dim, "Width of txt (T5-XXL: 4096; up to 65536)")
          ->transform(decimal_integer(1, 1 << 16))
          ->capture_default_str();
      cmd.add_option("--vec-dim", o.vec_dim, "Width of vec (CLIP-L: 768; up to 65536)")
          ->transform(decimal_integer(1, 1 << 16))
          ->capture_default_str();
      cmd.add_option("--plugin", o.plugin, "Model plugin that encodes")->capture_default_str();
      cmd.add_flag("-f,--force", o.force, "Overwrite the output file");
      cmd.add_flag("--show-tokens", o.show_tokens,
                   "Print the cleaned text, ids and pieces of the CLIP and T5 tokenizers for the prompt instead of "
                   "encoding (needs only the tokenizers)");
      static bool as_json = false;
      cmd.add_flag("--json", as_json, "With --show-tokens: print the report as JSON");
      cmd.add_option("--inspector", o.inspector, "Inspector plugin whose tokenizers --show-tokens uses")
          ->capture_default_str();
      cmd.callback([&globals, &cmd] {
        install_mapped_file_fault_handler();  // the encoders' weights are mapped: one cut short is exit 75
        if (cmd.count("--prompt") == 0 && cmd.count("--prompt-file") == 0)
          throw HostError(ErrorKind::usage, "give the prompt: --prompt TEXT or --prompt-file PATH");
        if (cmd.count("--prompt-file")) o.prompt = prompt_from_file(o.prompt_file);
        if (as_json && !o.show_tokens) throw HostError(ErrorKind::usage, "--json goes with --show-tokens");
        if (o.show_tokens && !o.output.empty())  // it writes no file: an -o would be ignored silently
          throw HostError(ErrorKind::usage, "--output does not go with --show-tokens, which prints and writes nothing");
        o.show_tokens ? run_show_tokens(o, globals, as_json) : run_encode(o, globals);
      });
    });

}  // namespace
}  // namespace genplug::cli::encode_command
