#include "plugin_library.hpp"

#include <genplug/host/memory_budget.hpp>

#include "elf_extent.hpp"

#include <elf.h>

#include <map>
#include <mutex>

#include <boost/dll/shared_library.hpp>

#include <genplug/host.hpp>
#include <genplug/host/errors.hpp>

namespace genplug::host {

struct PluginLibrary::Dll {
  boost::dll::shared_library lib;
};

namespace {
// dlopen hands every loader in the process the same copy of a file, so the process keeps one PluginLibrary
// per file (by canonical path): init and deinit run once per copy, however many catalogs use it.
// Recursive: a library rejected during load is destroyed (and its deleter locks) while load() holds the lock.
std::recursive_mutex& registry_mutex() {
  static std::recursive_mutex m;
  return m;
}
std::map<std::string, std::weak_ptr<PluginLibrary>>& loaded() {
  static std::map<std::string, std::weak_ptr<PluginLibrary>> libraries;
  return libraries;
}

// boost::dll says "boost::dll::shared_library::load() failed (dlerror system message: TEXT): ERRNO", where ERRNO is
// left over from some earlier call ("Bad file descriptor" for a file that is no ELF library): dlerror's TEXT alone,
// which names the file and what is wrong ("file too short", "cannot open shared object file: ...").
std::string load_failure(const std::string& what) {
  const std::string marker = "dlerror system message: ";
  const size_t from = what.find(marker), to = what.rfind("): ");
  if (from == std::string::npos || to == std::string::npos || to < from) return what;
  return what.substr(from + marker.size(), to - from - marker.size());
}
// Why the entry symbol, as the file defines it, cannot be the `const genplug_entry_t` object entry.h asks for, or
// "": a function (or an IFUNC, whose resolver the loader would run) had been read as data, its machine code as an
// ABI version ("ABI mismatch ... built with 3229829120.49921"); a thread-local one is another object per thread;
// one shorter than the three fields every version has is read past its end.
std::string entry_symbol_problem(const ElfSymbol& entry) {
  if (entry.type == STT_FUNC || entry.type == STT_GNU_IFUNC)
    return "'" GENPLUG_ENTRY_SYMBOL "' is a function; entry.h asks for an object: "
           "GENPLUG_EXTERN_C GENPLUG_EXPORT const genplug_entry_t " GENPLUG_ENTRY_SYMBOL " = {...}";
  if (entry.type == STT_TLS)
    return "'" GENPLUG_ENTRY_SYMBOL "' is thread-local; entry.h asks for one const object for the process";
  if (entry.size != 0 && entry.size < sizeof(uint32_t) * 3)
    return "entry struct is " + std::to_string(entry.size) + " bytes in the library's symbol table";
  return "";
}
}  // namespace

std::shared_ptr<PluginLibrary> PluginLibrary::load(const std::filesystem::path& path) {
  std::error_code ec;
  const std::filesystem::path canonical = std::filesystem::canonical(path, ec);
  const std::string key = ec ? path.string() : canonical.string();
  std::lock_guard<std::recursive_mutex> lock(registry_mutex());  // dlopen/dlclose and init/deinit are serialised
  if (auto existing = loaded()[key].lock()) return existing;
  auto self = load_new(path);
  loaded()[key] = self;
  return self;
}

std::shared_ptr<PluginLibrary> PluginLibrary::load_new(const std::filesystem::path& path) {
  std::shared_ptr<PluginLibrary> self(new PluginLibrary(), [](PluginLibrary* p) {
    std::lock_guard<std::recursive_mutex> lock(registry_mutex());
    delete p;
  });
  self->path_ = path;
  self->dll_ = std::make_unique<Dll>();
  const std::string where = path.string();
  if (const std::string cut = elf_truncation(path); !cut.empty())
    throw HostError(ErrorKind::plugin, where + ": cannot load library: " + cut);
  // No entry symbol, or one that is no object: not loaded, so that none of its constructors runs (a search path
  // naming a system folder).
  const std::optional<ElfSymbol> entry_symbol = elf_dynamic_symbol(path, GENPLUG_ENTRY_SYMBOL);
  if (entry_symbol && !entry_symbol->defined)
    throw HostError(ErrorKind::plugin,
                    where + ": not a genplug plugin: it defines no '" GENPLUG_ENTRY_SYMBOL "' symbol (not loaded)");
  if (entry_symbol)
    if (const std::string problem = entry_symbol_problem(*entry_symbol); !problem.empty())
      throw HostError(ErrorKind::plugin, where + ": " + problem + " (not loaded)");
  try {
    // rtld_now: a missing dependency fails here, not at the first call into the plugin.
    self->dll_->lib.load(boost::dll::fs::path(where),
                         boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::bad_alloc&) {  // a constructor of the library or of one it needs (tcmalloc under ulimit -v)
    throw HostError(ErrorKind::plugin, where + ": cannot load library: " + out_of_memory_text() +
                                           " in its constructors or those of the libraries it needs");
  } catch (const std::exception& e) {
    throw HostError(ErrorKind::plugin, where + ": cannot load library: " + load_failure(e.what()));
  }
  if (!self->dll_->lib.has(GENPLUG_ENTRY_SYMBOL))
    throw HostError(ErrorKind::plugin, where + ": not a genplug plugin: no '" GENPLUG_ENTRY_SYMBOL "' symbol");
  self->entry_ = &self->dll_->lib.get<const genplug_entry_t>(GENPLUG_ENTRY_SYMBOL);
  const genplug_entry_t& e = *self->entry_;
  if (entry_symbol && entry_symbol->size != 0 && entry_symbol->size < e.struct_size)
    throw HostError(ErrorKind::plugin, where + ": entry struct is " + std::to_string(entry_symbol->size) +
                                           " bytes in the library's symbol table, but says it is " +
                                           std::to_string(e.struct_size));
  if (e.struct_size < sizeof(uint32_t) * 3)
    throw HostError(ErrorKind::plugin, where + ": entry struct too small (" + std::to_string(e.struct_size) + " bytes)");
  if (e.abi_major != GENPLUG_ABI_MAJOR)
    throw HostError(ErrorKind::plugin, where + ": ABI mismatch: host expects major " +
                                           std::to_string(GENPLUG_ABI_MAJOR) + ", plugin was built with " +
                                           std::to_string(e.abi_major) + "." + std::to_string(e.abi_minor));
  if (e.struct_size < offsetof(genplug_entry_t, get_factory) + sizeof(e.get_factory) || !e.init || !e.deinit ||
      !e.get_factory)
    throw HostError(ErrorKind::plugin, where + ": entry is missing init, deinit or get_factory");
  CallContext ctx;
  genplug_status s = e.init(path.string().c_str(), ctx.get());
  if (s != GENPLUG_OK) {
    std::string msg = where + ": init failed: " + status_name(s);
    msg += ctx.error().empty() ? " (the plugin gave no message)" : ": " + ctx.error();
    throw HostError(ErrorKind::plugin, msg);
  }
  self->initialised_ = true;
  return self;
}

PluginLibrary::~PluginLibrary() {
  if (initialised_ && entry_ && entry_->deinit) entry_->deinit();
  // dll_ unloads when destroyed, after deinit.
}

const genplug_factory_t* PluginLibrary::factory(const char* kind_id) const {
  const genplug_factory_t* f = entry_->get_factory(kind_id);
  if (!f) return nullptr;
  if (f->struct_size < offsetof(genplug_factory_t, create) + sizeof(f->create) || !f->count || !f->descriptor ||
      !f->create)
    throw HostError(ErrorKind::plugin, path_.string() + ": factory '" + kind_id + "' is incomplete");
  return f;
}

}  // namespace genplug::host
