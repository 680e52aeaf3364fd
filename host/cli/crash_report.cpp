#include "crash_report.hpp"

#include <dlfcn.h>
#include <execinfo.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include <genplug/host/exr_writer.hpp>

namespace genplug::cli {
namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

std::atomic<bool> g_installed{false};
std::atomic<bool> g_reporting{false};
const void* g_genplug_base = nullptr;  // where the genplug executable is loaded (the host library is linked into it)
alignas(16) char g_alternate_stack[64 * 1024];

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// One line of the report, built without allocating: a fixed buffer, cut when full, written with write(2).
class Line {
 public:
  Line& operator<<(const char* s) {
    while (s && *s && size_ < sizeof text_ - 1) text_[size_++] = *s++;
    return *this;
  }
  Line& operator<<(uintptr_t v) {
    char digits[2 + 2 * sizeof v + 1] = "0x";
    int n = 2;
    for (int shift = 8 * sizeof v - 4; shift >= 0; shift -= 4)
      if (n > 2 || (v >> shift) != 0 || shift == 0) digits[n++] = "0123456789abcdef"[(v >> shift) & 0xf];
    digits[n] = '\0';
    return *this << digits;
  }
  void write_out() {
    text_[size_++] = '\n';
    for (size_t done = 0; done < size_;) {
      const ssize_t n = ::write(STDERR_FILENO, text_ + done, size_ - done);
      if (n <= 0) return;
      done += size_t(n);
    }
  }

 private:
  char text_[4096];
  size_t size_ = 0;
};

const char* base_name(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

struct Object {
  const void* base = nullptr;
  const char* path = "?";  // as the dynamic loader has it
};

Object object_of(const void* pc) {
  Dl_info info;
  if (!dladdr(pc, &info)) return {};
  if (info.dli_fbase == g_genplug_base) return {info.dli_fbase, "genplug"};
  return {info.dli_fbase, info.dli_fname && *info.dli_fname ? info.dli_fname : "?"};
}

// The C and C++ runtimes: where a crash often happens (memcpy, abort, a throw nobody caught) but seldom begins.
bool is_runtime(const Object& o) {
  static const char* const prefixes[] = {"libc.so", "libm.so", "libstdc++.so", "libgcc_s.so", "ld-linux",
                                         "libpthread.so", "linux-vdso"};
  const char* name = base_name(o.path);
  for (const char* p : prefixes)
    if (strncmp(name, p, strlen(p)) == 0) return true;
  return false;
}

const void* interrupted_pc(void* context) {
  const auto* uc = static_cast<const ucontext_t*>(context);
  if (!uc) return nullptr;
#if defined(__x86_64__)
  return reinterpret_cast<const void*>(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return reinterpret_cast<const void*>(uc->uc_mcontext.pc);
#else
  return nullptr;
#endif
}

// The libraries on this thread's stack from the interrupted instruction outwards, each once per run of frames.
int stack_objects(void* context, Object* out, int capacity) {
  void* frames[64];
  const int n = backtrace(frames, 64);
  const void* pc = interrupted_pc(context);
  int first = 0;  // the interrupted frame: the frames before it are this handler's and the signal trampoline's
  while (first < n && frames[first] != pc) ++first;
  int count = 0;
  if (first == n) {  // the unwinder did not get past the signal frame: the interrupted instruction's library alone
    if (pc) out[count++] = object_of(pc);
    return count;
  }
  for (int i = first; i < n && count < capacity; ++i) {
    const Object o = object_of(frames[i]);
    if (count == 0 || o.base != out[count - 1].base) out[count++] = o;
  }
  return count;
}

void describe_signal(Line& line, int signal, const siginfo_t* info) {
  line << "genplug: fatal: SIG" << sigabbrev_np(signal) << " (" << sigdescr_np(signal) << ")";
  if (!info) return;
  if (info->si_code <= 0) {  // sent, not raised by the hardware
    if (info->si_pid == getpid())
      line << (signal == SIGABRT ? ", abort() called" : ", raised by the process itself");
    else
      line << ", sent by process " << uintptr_t(info->si_pid);
  } else if (signal != SIGABRT) {
    line << " at address " << reinterpret_cast<uintptr_t>(info->si_addr);
  }
}

void write_report(int signal, siginfo_t* info, void* context) {
  Object objects[12];
  const int count = stack_objects(context, objects, 12);
  const Object* culprit = nullptr;
  for (int i = 0; i < count && !culprit; ++i)
    if (!is_runtime(objects[i])) culprit = &objects[i];
  Line what;
  describe_signal(what, signal, info);
  if (culprit) what << " in " << culprit->path;
  what << "; nothing more was done";
  what.write_out();
  Line chain;
  chain << "genplug: the crashing thread's libraries, innermost first:";
  for (int i = 0; i < count; ++i) chain << (i ? " <- " : " ") << base_name(objects[i].path);
  chain.write_out();
  Line advice;
  if (culprit && culprit->base == g_genplug_base)
    advice << "genplug: this is a bug in genplug: please report it with the command that crashed";
  else
    advice << "genplug: a plugin or a library it uses crashed; `genplug validate LIBRARY` checks a plugin library "
              "in child processes";
  advice.write_out();
}

void restore_default_actions() {
  for (int s : kFatalSignals) ::signal(s, SIG_DFL);
}

// Async-signal-safe apart from dladdr and backtrace, which take the dynamic loader's lock (recursive: safe on the
// thread that crashed holding it) and were warmed up at installation. alarm(10) bounds anything that still waits.
void on_fatal_signal(int signal, siginfo_t* info, void* context) {
  restore_default_actions();  // a fault in here ends the process as it would have without the report
  if (g_reporting.exchange(true)) {  // another thread crashed first: its report ends the process
    for (;;) pause();
  }
  alarm(10);
  host::unlink_pending_output();
  write_report(signal, info, context);
  raise(signal);  // pending until this handler returns; a fault's instruction would fault again anyway
}

}  // namespace

void install_crash_report() {
  if (kSanitized) return;
  Dl_info self;
  if (dladdr(reinterpret_cast<void*>(&install_crash_report), &self)) g_genplug_base = self.dli_fbase;
  void* warm_up[4];
  backtrace(warm_up, 4);  // loads the unwinder now: a first call would allocate
  stack_t stack{};
  stack.ss_sp = g_alternate_stack;
  stack.ss_size = sizeof g_alternate_stack;
  sigaltstack(&stack, nullptr);
  struct sigaction action{};
  action.sa_sigaction = on_fatal_signal;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  for (int s : kFatalSignals) sigaction(s, &action, nullptr);
  g_installed.store(true);
}

void report_crash(int signal, siginfo_t* info, void* context) {
  if (g_installed.load()) {
    on_fatal_signal(signal, info, context);
    return;
  }
  ::signal(signal, SIG_DFL);
  raise(signal);
}

}  // namespace genplug::cli
