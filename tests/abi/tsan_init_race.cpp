// Independent hosts in one process call init/deinit of one library concurrently (entry.h, ABI 1.1). Each
// thread here is such a host: it loops dlopen, genplug_entry, init, get_factory(posenc), create, compute
// (checked against plain RoPE), destroy, deinit, dlclose. Built and linked with -fsanitize=thread together
// with its fixture plugin (fixtures/tsan_rope.cpp); CTest sets TSAN_OPTIONS=halt_on_error=1:exitcode=66, so
// any race TSan sees fails the test.
//
// A plain main (not Boost.Test): nothing uninstrumented beyond the C and C++ runtimes is linked.
//
//   abi_tsan_init_race PLUGIN [ROUNDS=2000] [THREADS=2] [HOLD_US=0]
//
// Every third round a host sleeps HOLD_US between compute and destroy, so the other hosts' init/deinit fall
// inside its init..deinit; the short rounds in between let the library be unloaded and loaded again. The run
// prints how often each case happened and fails if either never did.
//
// The only synchronisation between the threads is g_loader around dlopen and dlclose. It stands for the lock
// glibc's loader holds there, which TSan cannot see: without it, a library unloaded by one host's dlclose
// and mapped again at the same address by another's dlopen reads as a race between the old copy's static
// destructors and the new copy's init. It orders only what the loader orders anyway (what a host did before
// its dlclose, before what another does after its next dlopen); init, get_factory, create, compute, destroy
// and deinit of different hosts overlap freely. Everything else shared is a relaxed atomic, which gives no
// happens-before under TSan.
#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <genplug/genplug.h>

namespace {

const char* const kPluginId = "org.genplug.test.tsan_rope";

std::mutex g_loader;           // glibc's dl_load_lock, made visible to TSan
std::atomic<int> g_inside{0};   // hosts between their init and their deinit (relaxed: statistics only)
std::atomic<int> g_started{0};  // start line

struct HostResult {
  std::string failure;   // the first failure of this host; empty when it passed
  long iterations = 0;
  long overlapped = 0;   // inits made while another host was between its init and deinit
  long fresh_loads = 0;  // dlopens that mapped the library anew (nobody held it): first init sets up again
  char error[512] = {};  // set_error target (one per host: the context is per host)
};

void set_error(const genplug_context_t* ctx, genplug_status code, const char* message) {
  auto* r = static_cast<HostResult*>(ctx->host_data);
  std::snprintf(r->error, sizeof r->error, "status %d: %s", int(code), message ? message : "(null)");
}

std::string fail(HostResult& r, long i, const std::string& what) {
  return "iteration " + std::to_string(i) + ": " + what + (r.error[0] ? std::string(" [") + r.error + "]" : "");
}

// One host's loop. Returns an empty string or the first failure.
std::string run_host(const char* path, long iterations, HostResult& r, int threads, long hold_us) {
  genplug_context_t ctx{};
  ctx.struct_size = sizeof ctx;
  ctx.host_data = &r;
  ctx.set_error = &set_error;

  const uint32_t dims[3] = {16, 56, 56};
  const uint32_t base[3] = {1, 64, 64};
  const uint32_t target[3] = {1, 96, 128};
  genplug_rotary_layout_t layout{};
  layout.struct_size = sizeof layout;
  layout.axis_count = 3;
  layout.axis_dims = dims;
  layout.theta = 10000.0;
  layout.base_extent = base;
  layout.pixels_per_token = 16;
  genplug_posenc_query_t query{};
  query.struct_size = sizeof query;
  query.layout = &layout;
  query.target_extent = target;
  query.t = 0.5;
  double expected[64];
  for (uint32_t a = 0, k = 0; a < 3; ++a)
    for (uint32_t j = 0; j < dims[a] / 2; ++j) expected[k++] = std::pow(10000.0, -2.0 * j / dims[a]);

  g_started.fetch_add(1, std::memory_order_relaxed);
  while (g_started.load(std::memory_order_relaxed) < threads) std::this_thread::yield();

  for (long i = 0; i < iterations; ++i) {
    r.error[0] = '\0';
    void* lib = nullptr;
    {
      std::lock_guard<std::mutex> loader(g_loader);
      if (void* held = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD)) {
        dlclose(held);
      } else {
        ++r.fresh_loads;
      }
      lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
      if (!lib) return fail(r, i, std::string("dlopen: ") + dlerror());
    }
    const auto* entry = static_cast<const genplug_entry_t*>(dlsym(lib, GENPLUG_ENTRY_SYMBOL));
    if (!entry) return fail(r, i, "no genplug_entry");
    if (entry->abi_major != GENPLUG_ABI_MAJOR || entry->struct_size < sizeof(genplug_entry_t))
      return fail(r, i, "unexpected entry (abi_major " + std::to_string(entry->abi_major) + ")");

    if (g_inside.fetch_add(1, std::memory_order_relaxed) > 0) ++r.overlapped;
    if (entry->init(path, &ctx) != GENPLUG_OK) return fail(r, i, "init failed");

    const genplug_factory_t* factory = entry->get_factory(GENPLUG_KIND_POSENC);
    if (!factory) return fail(r, i, "get_factory(posenc) returned NULL between init and deinit");
    if (entry->get_factory(GENPLUG_KIND_SCHEDULER)) return fail(r, i, "get_factory(scheduler) is not NULL");
    if (factory->count(factory) != 1) return fail(r, i, "factory count is not 1");
    const genplug_descriptor_t* desc = factory->descriptor(factory, 0);
    if (!desc || !desc->id || std::strcmp(desc->id, kPluginId) != 0) return fail(r, i, "wrong descriptor");

    void* handle = nullptr;
    if (factory->create(factory, kPluginId, "{}", &ctx, &handle) != GENPLUG_OK || !handle)
      return fail(r, i, "create failed");
    auto* posenc = static_cast<genplug_posenc_t*>(handle);

    double freqs[64] = {};
    double amplitude[3] = {};
    genplug_spectrum_t spectrum{};
    spectrum.struct_size = sizeof spectrum;
    spectrum.freqs = freqs;
    spectrum.freq_capacity = 64;
    spectrum.amplitude = amplitude;
    spectrum.amplitude_capacity = 3;
    if (posenc->compute(posenc, &query, &spectrum, &ctx) != GENPLUG_OK) return fail(r, i, "compute failed");
    for (int k = 0; k < 64; ++k)
      if (!(std::fabs(freqs[k] - expected[k]) <= 1e-12 * expected[k]))
        return fail(r, i, "freqs[" + std::to_string(k) + "] = " + std::to_string(freqs[k]));
    for (int a = 0; a < 3; ++a)
      if (amplitude[a] != 1.0) return fail(r, i, "amplitude[" + std::to_string(a) + "] is not 1");

    // Every third round the host keeps its instance a while, so that the other host's init and deinit
    // land inside this one's; the rounds in between are short, so the library is also unloaded and loaded
    // again.
    if (hold_us > 0 && i % 3 == 1) std::this_thread::sleep_for(std::chrono::microseconds(hold_us));
    posenc->destroy(posenc);
    entry->deinit();
    g_inside.fetch_sub(1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> loader(g_loader);
      if (dlclose(lib) != 0) return fail(r, i, std::string("dlclose: ") + dlerror());
    }
    r.iterations = i + 1;
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PLUGIN [ITERATIONS] [THREADS]\n", argv[0]);
    return 2;
  }
  const char* path = argv[1];
  const long iterations = argc > 2 ? std::atol(argv[2]) : 2000;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  const long hold_us = argc > 4 ? std::atol(argv[4]) : 0;
  if (iterations < 1 || threads < 2) {
    std::fprintf(stderr, "need ITERATIONS >= 1 and THREADS >= 2\n");
    return 2;
  }

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<HostResult> results(threads);
  std::vector<std::thread> hosts;
  for (int t = 0; t < threads; ++t)
    hosts.emplace_back([&, t] { results[t].failure = run_host(path, iterations, results[t], threads, hold_us); });
  for (auto& h : hosts) h.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  int failed = 0;
  long overlapped = 0, fresh_loads = 0;
  for (int t = 0; t < threads; ++t) {
    overlapped += results[t].overlapped;
    fresh_loads += results[t].fresh_loads;
    if (!results[t].failure.empty()) {
      std::fprintf(stderr, "host %d: %s\n", t, results[t].failure.c_str());
      ++failed;
    }
  }
  std::printf("%d hosts x %ld rounds of dlopen/init/create/compute/destroy/deinit/dlclose in %.2f s: "
              "%ld inits while another host was initialised, %ld loads of a library nobody held\n",
              threads, iterations, seconds, overlapped, fresh_loads);
  if (failed) return 1;
  // The run must have exercised both cases, or it proved nothing.
  if (overlapped == 0 || fresh_loads < 2) {
    std::fprintf(stderr, "the hosts never overlapped or the library was never unloaded: no evidence\n");
    return 1;
  }
  return 0;
}
