#include <genplug/host/manifest.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include <genplug/host/errors.hpp>
#include <genplug/host/json_schema.hpp>
#include <genplug/internal/bounded_json.hpp>
#include <genplug/internal/regular_file.hpp>

#include "batch.hpp"
#include "message_text.hpp"
#include "resolved_path.hpp"

namespace genplug::host {
namespace fs = std::filesystem;

namespace {

const char kSchemaText[] =
#include "manifest_schema.inc"
    ;

[[noreturn]] void fail_file(const fs::path& file, const std::string& message) {
  throw HostError(ErrorKind::manifest, file.string() + ": " + message);
}

// A plugin_path entry names a folder or a library file, as --plugin-path must: the catalog would skip anything else
// without a word, and the plugin it was meant to hold would then be "not found".
void check_plugin_path_entry(const fs::path& manifest, const std::string& where, const fs::path& entry) {
  std::error_code ec;
  const fs::file_status s = fs::status(entry, ec);
  if (fs::is_directory(s) || fs::is_regular_file(s)) return;
  if (!fs::exists(s))
    fail_file(manifest, where + ": '" + entry.string() + "': " + (ec ? ec.message() : "no such file or folder"));
  fail_file(manifest, where + ": '" + entry.string() + "' is not a folder or a plugin library (a regular .so file)");
}

// A string with a NUL anywhere in the manifest: a C string ends there, so a path would name another file, a colour
// space or plugin id another one. Plugin configs are left to their plugin, which gets them as JSON text (escaped).
void refuse_nul_strings(const fs::path& file, const nlohmann::json& j, const std::string& where) {
  if (j.is_string() && j.get_ref<const std::string&>().find('\0') != std::string::npos)
    fail_file(file, where + ": contains a NUL character");
  if (j.is_object())
    for (const auto& [key, value] : j.items())
      if (key != "config" || !j.contains("plugin"))
        refuse_nul_strings(file, value, where.empty() ? key : where + "." + key);
  if (j.is_array())
    for (size_t i = 0; i < j.size(); ++i) refuse_nul_strings(file, j[i], where + "[" + std::to_string(i) + "]");
}

PluginRef plugin_ref(const nlohmann::json& j, const std::string& where) {
  PluginRef r;
  r.plugin = j.at("plugin").get<std::string>();
  if (j.contains("config")) r.config = j.at("config");
  r.where = where;
  return r;
}

// `where`: "exr" or "jobs[2].exr", for messages (the owner is a header string: no NUL, as prompts and outputs).
ExrSettings exr_settings(const nlohmann::json& j, ExrSettings base, const std::string& where) {
  if (j.contains("pixel")) base.pixel = j["pixel"];
  if (j.contains("encoding")) base.encoding = j["encoding"];
  if (j.contains("compression")) base.compression = j["compression"];
  if (j.contains("overwrite")) base.overwrite = j["overwrite"];
  if (j.contains("owner")) base.owner = j["owner"];
  if (base.owner.find('\0') != std::string::npos)
    throw HostError(ErrorKind::manifest, where + ".owner: contains a NUL character");
  if (j.contains("colorspace")) base.colorspace = j["colorspace"];
  if (j.contains("ocio_config")) base.ocio_config = j["ocio_config"];
  if (j.contains("x0_layers")) base.x0_layers = j["x0_layers"].get<std::vector<uint32_t>>();
  return base;
}

// Every segment, empty ones too: "jobs.0." is jobs, 0 and "" (getline would drop the last, and set jobs.0).
std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t at; (at = s.find(sep, start)) != std::string::npos; start = at + 1) out.push_back(s.substr(start, at - start));
  out.push_back(s.substr(start));
  return out;
}

bool is_index(const std::string& s) {
  return !s.empty() && s.size() < 10 && s.find_first_not_of("0123456789") == std::string::npos;
}

constexpr int kMaxManifestDepth = 64;  // a manifest nests 6 levels; plugin configs a few more
constexpr std::uintmax_t kMaxManifestBytes = std::uintmax_t(64) << 20;  // a farm's 10 000 jobs are ~2 MB

// JSON with nesting bounded while parsing (internal/bounded_json.hpp); too deep is a manifest error.
template <class Input>
nlohmann::json parse_limited(Input&& input, bool* duplicate_key = nullptr) {
  try {
    return genplug::internal::parse_bounded_json(std::forward<Input>(input), kMaxManifestDepth, duplicate_key);
  } catch (const genplug::internal::JsonTooDeep& e) {
    throw HostError(ErrorKind::manifest, e.what());
  }
}

// A SAX walk over manifest text that knows where it is, as a manifest path ("jobs[0].seed"; "" for the document
// itself), with an explicit stack, so that it never recurses. Run only to place an error the parse found: the
// first key an object already has (`duplicate`: nlohmann keeps the last value silently), or the first parse
// error (`failed_at`: nlohmann names a number no double holds, 1e400, but not its place).
struct ManifestWalker : nlohmann::json_sax<nlohmann::json> {
  struct Level {
    bool object;
    std::string key;
    std::size_t index = 0;
    std::set<std::string> keys;  // an object's keys so far
  };
  std::vector<Level> stack;
  std::optional<std::string> duplicate;
  std::string failed_at;

  std::string path() const {
    std::string p;
    for (const Level& l : stack) p += l.object ? (p.empty() ? "" : ".") + l.key : "[" + std::to_string(l.index) + "]";
    return p.size() > 200 ? p.substr(0, 200) + "..." : p;
  }
  bool value() {  // one more element of the array being read
    if (!stack.empty() && !stack.back().object) ++stack.back().index;
    return true;
  }
  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override { return stack.push_back({true, "", 0, {}}), true; }
  bool key(string_t& k) override {
    stack.back().key = k;
    if (!stack.back().keys.insert(k).second && !duplicate) duplicate = path();
    return true;
  }
  bool end_object() override { return stack.pop_back(), value(); }
  bool start_array(std::size_t) override { return stack.push_back({false, "", 0, {}}), true; }
  bool end_array() override { return stack.pop_back(), value(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    failed_at = path();
    return false;
  }
};

ManifestWalker walk(const std::string& text) {
  ManifestWalker walker;
  nlohmann::json::sax_parse(text, &walker, nlohmann::json::input_format_t::json, false);
  return walker;
}

bool is_valid_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();  // nlohmann's serializer checks UTF-8 and throws type_error 316
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

// An override as echoed in messages: a huge one is not echoed whole; cut on a UTF-8 character boundary.
std::string shown_override(const std::string& assignment) {
  if (assignment.size() <= 120) return assignment;
  size_t cut = 117;
  while (cut > 0 && (static_cast<unsigned char>(assignment[cut]) & 0xC0) == 0x80) --cut;
  return assignment.substr(0, cut) + "...";
}

// genplug 0.2 (ABI 1.1) renamed the top-level EXR settings "output" to "exr", as a job's own (a job's "output" is
// its file path and stays). An old manifest or override gets this message, not the schema's "unknown key".
const char kOutputRenamed[] = "output: renamed to \"exr\" in genplug 0.2 (ABI 1.1); write ";

void refuse_top_level_output(const nlohmann::json& doc, const fs::path& path) {
  if (!doc.is_object()) return;
  const auto it = doc.find("output");
  if (it != doc.end() && it->is_object()) fail_file(path, std::string(kOutputRenamed) + "\"exr\": {...}");
}

void refuse_output_override(const std::string& assignment, const fs::path& path) {
  const size_t end = assignment.find_first_of(".=");
  if (assignment.find('=') == std::string::npos || assignment.compare(0, end, "output") != 0) return;
  fail_file(path, "override '" + shown_override(assignment) + "': " + kOutputRenamed +
                 shown_override("exr" + assignment.substr(6)));  // output.pixel=float -> exr.pixel=float
}

[[noreturn]] void fail_at(const std::string& where, const std::string& message) {
  throw HostError(ErrorKind::manifest, where + ": " + message);
}

// The refine pass of `job`: its size, steps, posenc and strength from `r`; the first pass's render (or r.plate)
// as its plate, resized to fill the frame unless r.resize says otherwise.
Job refine_pass_of(const Job& job, const nlohmann::json& r) {
  Job pass = job;
  pass.where = job.where + ".refine";
  pass.width = r["width"].get<uint32_t>();
  pass.height = r["height"].get<uint32_t>();
  if (r.contains("steps")) pass.steps = r["steps"].get<uint32_t>();
  if (r.contains("posenc")) {
    pass.plain_rope = r["posenc"].is_string();
    pass.posenc = pass.plain_rope ? std::nullopt : std::optional<PluginRef>(plugin_ref(r["posenc"], pass.where + ".posenc"));
  }
  pass.strength = r.value("strength", 0.5);
  pass.resize = r.value("resize", "fill");
  pass.init_image.reset();
  if (r.contains("plate")) {
    pass.init_image = r["plate"].get<std::string>();
    if (pass.init_image->string().find('\0') != std::string::npos) fail_at(pass.where + ".plate", "contains a NUL character");
  }
  pass.init_colorspace = r.value("plate_colorspace", "");
  pass.refine = nullptr;
  pass.refine_pass = true;
  return pass;
}

// One work item as a Job: the plain job JSON of a manifest job or of one batch item, kept as the Job's raw (moved,
// not copied: a batch's million items would otherwise be held twice while it is expanded). `origins` names where a
// wedged plugin came from (wedge_origins), for messages.
Job job_of(nlohmann::json j, size_t job_index, size_t index, const std::string& where, const ExrSettings& exr,
           const std::map<std::string, std::string>& origins) {
  auto origin = [&](const char* key) {
    const auto it = origins.find(key);
    return it != origins.end() ? it->second : where + "." + key;
  };
  Job job;
  job.index = index;
  job.job = job_index;
  job.where = where;
  job.name = j.value("name", "job " + std::to_string(job_index));
  job.prompt = j.value("prompt", "");
  if (job.prompt.find('\0') != std::string::npos)  // a C string ends there: the plugin would see a shorter prompt
    fail_at(where + ".prompt", "contains a NUL character");
  if (j.contains("width")) job.width = j["width"].get<uint32_t>();
  if (j.contains("height")) job.height = j["height"].get<uint32_t>();
  if (j.contains("steps")) job.steps = j["steps"].get<uint32_t>();
  if (j.contains("guidance")) job.guidance = j["guidance"].get<double>();
  job.seed = j.value("seed", uint64_t{0});
  job.output = j["output"].get<std::string>();
  if (job.output.string().find('\0') != std::string::npos) fail_at(where + ".output", "contains a NUL character");
  if (j.contains("scheduler")) job.scheduler = plugin_ref(j["scheduler"], origin("scheduler"));
  if (j.contains("posenc")) {
    if (j["posenc"].is_string())
      job.plain_rope = true;
    else
      job.posenc = plugin_ref(j["posenc"], origin("posenc"));
  }
  job.exr = j.contains("exr") ? exr_settings(j["exr"], exr, where + ".exr") : exr;
  if (j.contains("loras")) job.loras = j["loras"];
  if (j.contains("init_image")) {
    job.init_image = j["init_image"].get<std::string>();
    if (job.init_image->string().find('\0') != std::string::npos) fail_at(where + ".init_image", "contains a NUL character");
  }
  job.init_colorspace = j.value("init_colorspace", "");
  job.strength = j.value("strength", 0.6);
  job.resize = j.value("resize", "error");
  job.raw = std::move(j);  // before the refine pass, which copies the job
  if (job.raw.contains("refine")) job.refine = std::make_shared<const Job>(refine_pass_of(job, job.raw.at("refine")));
  return job;
}

// The files a job reads: its plate, its refine pass's plate, its LoRAs.
void add_inputs(const Job& job, std::map<fs::path, std::string>& inputs, PathResolver& resolved) {
  if (job.init_image) inputs.emplace(resolved(*job.init_image), job.where + ".init_image");
  if (job.refine && job.refine->init_image)
    inputs.emplace(resolved(*job.refine->init_image), job.where + ".refine.plate");
  if (job.loras)
    for (size_t k = 0; k < job.loras->size(); ++k)
      inputs.emplace(resolved((*job.loras)[k].at("path").get<std::string>()),
                     job.where + ".loras[" + std::to_string(k) + "].path");
}

}  // namespace

const nlohmann::json& manifest_schema() {
  static const nlohmann::json schema = nlohmann::json::parse(kSchemaText);
  return schema;
}

namespace {

// An override's VALUE: JSON, or else a bare word taken as a string (--set jobs.0.prompt=cat). `bad` starts each
// message ("override '...': ").
nlohmann::json override_value(const std::string& text, const std::string& bad) {
  nlohmann::json value;
  bool duplicate_key = false;
  try {
    value = parse_limited(text, &duplicate_key);
  } catch (const HostError& e) {
    throw HostError(ErrorKind::manifest, bad + e.what());
  } catch (const nlohmann::json::out_of_range& e) {
    const std::string number = genplug::internal::overflowing_number(e.what());
    throw HostError(ErrorKind::manifest, bad + "a number is outside the range of a double: " + number);
  } catch (const nlohmann::json::exception&) {
    if (!is_valid_utf8(text))  // say so now, not when a job's JSON is dumped after a render
      throw HostError(ErrorKind::manifest, bad + "the value is not valid UTF-8");
    return text;  // seen as a duplicate key or not, the text proved not to be JSON
  }
  if (duplicate_key) {  // as in a manifest file
    const std::string where = walk(text).duplicate.value_or("");
    throw HostError(ErrorKind::manifest, bad + "the value's " + (where.empty() ? "\"\"" : where) +
                                             ": the key appears twice in its object (JSON keeps the last value only)");
  }
  return value;
}

// Sets `value` at the dotted PATH's `keys` in `doc`: list entries must exist; missing objects are made, except
// where the next key is an index (a list the manifest does not have).
void set_at_path(nlohmann::json& doc, const std::vector<std::string>& keys, const nlohmann::json& value,
                 const std::string& bad) {
  nlohmann::json* node = &doc;
  std::string walked;
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string& k = keys[i];
    if (k.empty()) throw HostError(ErrorKind::manifest, bad + "empty path segment");
    const bool last = i + 1 == keys.size();
    if (node->is_array()) {
      if (!is_index(k)) throw HostError(ErrorKind::manifest, bad + walked + " is a list; '" + k + "' is not an index");
      const size_t idx = std::stoul(k);
      if (idx >= node->size())
        throw HostError(ErrorKind::manifest, bad + walked + " has " + std::to_string(node->size()) +
                                                 " entries; index " + k + " is out of range");
      node = &(*node)[idx];
    } else if (node->is_object()) {
      if (last) {
        (*node)[k] = value;
        return;
      }
      if (!node->contains(k)) {
        // Where the manifest has a list ("loras.0.scale" with no loras): an object keyed "0" had been made, and the
        // schema then blamed the manifest for it. In a plugin's config, whose schema is the plugin's, a key of
        // digits may be meant: made as any other.
        const std::string here = walked + (walked.empty() ? "" : ".") + k;
        const bool in_config = std::find(keys.begin(), keys.begin() + long(i), "config") != keys.begin() + long(i);
        if (is_index(keys[i + 1]) && !in_config)
          throw HostError(ErrorKind::manifest, bad + here + " is not there, so it has no entry " + keys[i + 1] +
                                                   ": set the whole list (" + here + "=[...])");
        (*node)[k] = nlohmann::json::object();
      }
      node = &(*node)[k];
    } else {
      throw HostError(ErrorKind::manifest, bad + (walked.empty() ? "the manifest" : walked) + " is not an object or list");
    }
    walked += (walked.empty() ? "" : ".") + k;
    if (last) *node = value;
  }
}

}  // namespace

void apply_override(nlohmann::json& doc, const std::string& assignment) {
  const auto eq = assignment.find('=');
  const std::string bad = "override '" + shown_override(assignment) + "': ";
  if (eq == std::string::npos || eq == 0) throw HostError(ErrorKind::manifest, bad + "expected PATH=VALUE");
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  if (!is_valid_utf8(path))  // a key that is not UTF-8 would make every later dump of the manifest throw
    throw HostError(ErrorKind::manifest, bad + "the path is not valid UTF-8");
  const nlohmann::json value = override_value(text, bad);
  std::vector<std::string> keys = split(path, '.');
  if (!keys.empty() && keys[0] == "job") keys[0] = "jobs";
  set_at_path(doc, keys, value, bad);
}

Manifest Manifest::load(const fs::path& path, const std::vector<std::string>& overrides,
                        const std::atomic<bool>* cancel) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (fs::exists(status) && !fs::is_regular_file(status))  // a folder or a FIFO would fail late or block
    fail_file(path, std::string("is not a regular file (") +
              (fs::is_directory(status) ? "a folder" : "a device or pipe") + ")");
  std::string text;
  try {
    text = genplug::internal::read_regular_file(path, kMaxManifestBytes);
  } catch (const genplug::internal::UnreadableFile& e) {
    using Cause = genplug::internal::UnreadableFile::Cause;
    const std::string message = path.string() + ": cannot read manifest: it " + e.what();
    if (e.cause() == Cause::descriptor_limit) throw HostError(ErrorKind::runtime, message);  // not the file's fault
    if (e.cause() == Cause::shortage) throw HostError(ErrorKind::retryable, message);
    fail_file(path, std::string("cannot read manifest: it ") + e.what());
  }
  nlohmann::json doc;
  bool duplicate_key = false;
  try {
    doc = parse_limited(text, &duplicate_key);
  } catch (const nlohmann::json::parse_error& e) {
    fail_file(path, std::string("not valid JSON: ") + genplug::internal::json_error_text(e));
  } catch (const nlohmann::json::out_of_range& e) {  // 1e400: no double holds it
    const std::string field = walk(text).failed_at;
    fail_file(path, (field.empty() ? "" : field + ": ") + "a number is outside the range of a double: " +
                   genplug::internal::overflowing_number(e.what()));
  } catch (const HostError& e) {
    fail_file(path, e.what());
  }
  if (duplicate_key) {  // the parse saw it; the walk (this path only) says where
    const std::string where = walk(text).duplicate.value_or("");
    fail_file(path, (where.empty() ? "\"\"" : where) +
                   ": the key appears twice in its object (JSON keeps the last value only): remove one");
  }
  return parse(std::move(doc), path, overrides, cancel);
}

Manifest Manifest::parse(nlohmann::json doc, const fs::path& path, const std::vector<std::string>& overrides,
                         const std::atomic<bool>* cancel) {
  refuse_top_level_output(doc, path);  // before the schema, which would only call it an unknown key
  for (const auto& o : overrides) {
    refuse_output_override(o, path);
    try {
      apply_override(doc, o);
    } catch (const HostError& e) {
      fail_file(path, e.what());
    }
  }
  static const JsonSchema schema(manifest_schema());
  const auto problems = schema.validate(doc, "");
  if (!problems.empty()) {
    std::string msg = problems.front().path.empty() ? "" : problems.front().path + ": ";
    msg += problems.front().message;
    if (problems.size() > 1) msg += " (and " + counted(problems.size() - 1, "more problem") + ")";
    fail_file(path, msg);
  }
  refuse_nul_strings(path, doc, "");

  Manifest m;
  m.path = path;
  m.raw = doc;
  const fs::path base = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (doc.contains("plugin_path"))
    for (const auto& p : doc["plugin_path"]) {
      const fs::path pp = p.get<std::string>();
      m.plugin_path.push_back(pp.is_absolute() ? pp : base / pp);
      check_plugin_path_entry(path, "plugin_path[" + std::to_string(m.plugin_path.size() - 1) + "]",
                              m.plugin_path.back());
    }
  m.model = plugin_ref(doc["model"], "model");
  m.scheduler = plugin_ref(doc["scheduler"], "scheduler");
  if (doc.contains("posenc")) m.posenc = plugin_ref(doc["posenc"], "posenc");
  ExrSettings exr;
  try {
    if (doc.contains("exr")) exr = exr_settings(doc["exr"], ExrSettings{}, "exr");
  } catch (const HostError& e) {
    fail_file(path, e.what());
  }

  const auto& jobs = doc["jobs"];
  if (fs::exists(path)) m.inputs.emplace(resolved_path(path), "the manifest");
  PathResolver resolved;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const std::string job_where = "jobs[" + std::to_string(i) + "]";
    std::vector<nlohmann::json> items;
    try {
      items = expand_job(jobs[i], i, m.jobs.size(), base, job_where, cancel);
    } catch (const HostError& e) {
      if (e.kind() == ErrorKind::cancelled) throw HostError(ErrorKind::cancelled, path.string() + ": " + e.what());
      fail_file(path, e.what());
    }
    if (const auto file = prompts_file(jobs[i], base))
      m.inputs.emplace(resolved_path(*file), job_where + ".prompts.file");
    if (m.jobs.size() + items.size() > 1000000)
      fail_file(path, job_where + ": the manifest has more than 1000000 work items");
    if (m.jobs.capacity() < m.jobs.size() + items.size())  // a batch's items moved once, not once per doubling
      m.jobs.reserve(std::max(m.jobs.size() + items.size(), 2 * m.jobs.capacity()));
    for (size_t k = 0; k < items.size(); ++k) {
      const std::string where = items.size() == 1 ? job_where : job_where + " (item " + std::to_string(k) + ")";
      if (cancel && k % 1024 == 0 && cancel->load())
        throw HostError(ErrorKind::cancelled, path.string() + ": " + where + ": cancelled while expanding the manifest");
      try {
        const auto origins = wedge_origins(jobs[i], k, job_where);
        m.jobs.push_back(job_of(std::move(items[k]), i, m.jobs.size(), where, exr, origins));
      } catch (const HostError& e) {
        fail_file(path, e.what());
      }
      Job& job = m.jobs.back();
      if (items.size() > 1) job.name += " item " + std::to_string(k);
      add_inputs(job, m.inputs, resolved);
      const auto [at, added] = m.outputs.emplace(resolved(job.output), job.where);
      if (!added) {
        const std::string& other_where = at->second;  // a structured binding: no lambda may capture it in C++17
        const Job& other =
            *std::find_if(m.jobs.begin(), m.jobs.end(), [&](const Job& j) { return j.where == other_where; });
        fail_file(path, where + ".output: \"" + job.output.string() + "\" is also the output of " + other.where +
                       (other.output != job.output ? " (\"" + other.output.string() + "\")" : std::string()));
      }
    }
  }
  return m;
}


}  // namespace genplug::host
