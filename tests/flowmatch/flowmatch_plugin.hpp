// Loads the flow-matching plugin library through its C ABI (dlopen + genplug_entry), as a host does, and
// creates scheduler instances from config text.
#pragma once

#include <dlfcn.h>

#include <memory>
#include <stdexcept>
#include <string>

#include <genplug/host.hpp>

#include "golden.hpp"

namespace genplug::test {

inline const char* const kFlowmatchId = "org.genplug.flowmatch";

class FlowmatchLibrary {
 public:
  // The one library for the whole test run (opened on first use, closed at exit).
  static std::shared_ptr<FlowmatchLibrary> get() {
    static std::shared_ptr<FlowmatchLibrary> lib(new FlowmatchLibrary((plugin_build_dir() / "libgenplug_flowmatch.so").string()));
    return lib;
  }
  ~FlowmatchLibrary() {
    if (entry_ && entry_->deinit) entry_->deinit();
    if (handle_) dlclose(handle_);
  }

  const genplug_factory_t& factory() const { return *factory_; }

  const genplug_descriptor_t& descriptor() const {
    for (uint32_t i = 0; i < factory_->count(factory_); ++i) {
      const genplug_descriptor_t* d = factory_->descriptor(factory_, i);
      if (d && std::string(d->id) == kFlowmatchId) return *d;
    }
    throw std::runtime_error(std::string("the library has no plugin ") + kFlowmatchId);
  }

  // The raw create call: status, and the instance or NULL; the message lands in ctx.error().
  genplug_status create_raw(const std::string& config, CallContext& ctx, genplug_scheduler_t** out) const {
    void* instance = nullptr;
    genplug_status s = factory_->create(factory_, kFlowmatchId, config.c_str(), ctx.get(), &instance);
    *out = static_cast<genplug_scheduler_t*>(instance);
    return s;
  }

 private:
  explicit FlowmatchLibrary(const std::string& path) {
    handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) throw std::runtime_error("cannot load " + path + ": " + dlerror());
    entry_ = static_cast<const genplug_entry_t*>(dlsym(handle_, GENPLUG_ENTRY_SYMBOL));
    if (!entry_) throw std::runtime_error(path + " exports no " GENPLUG_ENTRY_SYMBOL);
    if (entry_->abi_major != GENPLUG_ABI_MAJOR) throw std::runtime_error(path + ": ABI major mismatch");
    CallContext ctx;
    ctx.check(entry_->init(path.c_str(), ctx.get()), path + ": init");
    factory_ = entry_->get_factory(GENPLUG_KIND_SCHEDULER);
    if (!factory_) throw std::runtime_error(path + " has no scheduler factory");
  }

  void* handle_ = nullptr;
  const genplug_entry_t* entry_ = nullptr;
  const genplug_factory_t* factory_ = nullptr;
};

// A scheduler instance behind the SDK's host proxy; throws PluginError when create fails.
inline SchedulerProxy make_scheduler(const std::string& config) {
  auto lib = FlowmatchLibrary::get();
  CallContext ctx;
  genplug_scheduler_t* raw = nullptr;
  ctx.check(lib->create_raw(config, ctx, &raw), std::string(kFlowmatchId) + ": create");
  return SchedulerProxy(raw, kFlowmatchId, lib);
}

}  // namespace genplug::test
