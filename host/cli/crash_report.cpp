#include "crash_report.hpp"

#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <setjmp.h>
#include <string.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include <genplug/host/exr_writer.hpp>

namespace genplug::cli {
namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
constexpr int kReportSeconds = 10;  // then the process ends by its signal, reported or not

std::atomic<bool> g_installed{false};
std::atomic<pid_t> g_reporter{0};  // the thread writing the report (0: none yet)
volatile sig_atomic_t g_signal = 0;
const void* g_genplug_start = nullptr;  // where the genplug executable is mapped (the host library is linked in)
alignas(16) char g_alternate_stack[64 * 1024];
sigjmp_buf g_unwind_escape;

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

// One line of the report, built without allocating: a fixed buffer, cut when full, written with write(2). Control
// characters (a library's path may hold a newline) are escaped, as host::printable escapes them.
class Line {
 public:
  Line& operator<<(const char* s) {
    for (; s && *s; ++s) {
      const auto c = static_cast<unsigned char>(*s);
      if (c >= 0x20 && c != 0x7f) {
        put(char(c));
      } else {
        put('\\'), put('x'), put("0123456789abcdef"[c >> 4]), put("0123456789abcdef"[c & 0xf]);
      }
    }
    return *this;
  }
  Line& hex(uintptr_t v) {
    put('0'), put('x');
    bool started = false;
    for (int shift = 8 * sizeof v - 4; shift >= 0; shift -= 4)
      if ((started |= (v >> shift) != 0) || shift == 0) put("0123456789abcdef"[(v >> shift) & 0xf]);
    return *this;
  }
  Line& decimal(uint64_t v) {
    char digits[24];
    int n = 0;
    do digits[n++] = char('0' + v % 10);
    while ((v /= 10) != 0);
    while (n > 0) put(digits[--n]);
    return *this;
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
  void put(char c) {
    if (size_ < sizeof text_ - 1) text_[size_++] = c;
  }
  char text_[4096];
  size_t size_ = 0;
};

const char* base_name(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

// A loaded object (the executable or a shared library), found without the loader's lock: dladdr waits for it,
// and a thread may hold it while it waits for the one that crashed (dlopen running a constructor that joins a
// worker). _dl_find_object (glibc 2.35) takes no lock.
struct Object {
  const void* start = nullptr;  // nullptr: the address is in no loaded object
  const char* path = "?";
};

Object object_of(const void* address) {
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 35)
  dl_find_object found;
  if (_dl_find_object(const_cast<void*>(address), &found) != 0) return {};
  if (found.dlfo_map_start == g_genplug_start) return {found.dlfo_map_start, "genplug"};
  const char* name = found.dlfo_link_map ? found.dlfo_link_map->l_name : nullptr;
  return {found.dlfo_map_start, name && *name ? name : "?"};
#else
  Dl_info info;
  if (!dladdr(address, &info)) return {};
  if (info.dli_fbase == g_genplug_start) return {info.dli_fbase, "genplug"};
  return {info.dli_fbase, info.dli_fname && *info.dli_fname ? info.dli_fname : "?"};
#endif
}

bool starts_with(const char* s, const char* prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

// The C and C++ runtimes and the allocators: where a crash often happens (memcpy, abort, a throw nobody caught, a
// heap found corrupt) but seldom begins.
bool is_runtime(const Object& o) {
  static const char* const prefixes[] = {"libc.so",     "libm.so",   "libstdc++.so",  "libgcc_s.so", "ld-linux",
                                         "libpthread.so", "linux-vdso", "libtcmalloc", "libjemalloc"};
  for (const char* p : prefixes)
    if (starts_with(base_name(o.path), p)) return true;
  return false;
}

bool is_allocator(const Object& o) {
  return starts_with(base_name(o.path), "libtcmalloc") || starts_with(base_name(o.path), "libjemalloc");
}

struct Registers {
  const void* pc = nullptr;
  const void* sp = nullptr;
  const void* link = nullptr;  // where a call returns to, when the architecture keeps it in a register
};

Registers registers_of(void* context) {
  const auto* uc = static_cast<const ucontext_t*>(context);
  if (!uc) return {};
#if defined(__x86_64__)
  return {reinterpret_cast<const void*>(uc->uc_mcontext.gregs[REG_RIP]),
          reinterpret_cast<const void*>(uc->uc_mcontext.gregs[REG_RSP]), nullptr};
#elif defined(__aarch64__)
  return {reinterpret_cast<const void*>(uc->uc_mcontext.pc), reinterpret_cast<const void*>(uc->uc_mcontext.sp),
          reinterpret_cast<const void*>(uc->uc_mcontext.regs[30])};
#else
  return {};
#endif
}

// After a jump to an address in no object (a call through a NULL or stale pointer): the caller, from the return
// address the call left on the stack (x86-64) or in the link register. The stack is read through
// process_vm_readv, which fails instead of faulting where the stack pointer is wild.
Object caller_of_wild_jump(const Registers& r) {
  if (r.link) return object_of(r.link);
  const void* returns_to = nullptr;
  iovec local{&returns_to, sizeof returns_to}, remote{const_cast<void*>(r.sp), sizeof returns_to};
  if (!r.sp || process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != ssize_t(sizeof returns_to)) return {};
  return object_of(returns_to);
}

void escape_from_unwinding(int) { siglongjmp(g_unwind_escape, 1); }

// backtrace(), where a fault while unwinding (a smashed stack, a wild stack pointer) gives -1 instead of ending
// the process before the report: those faults jump back here.
int guarded_backtrace(void** frames, int capacity) {
  struct sigaction escape{}, old_segv{}, old_bus{};
  escape.sa_handler = escape_from_unwinding;
  escape.sa_flags = SA_NODEFER | SA_ONSTACK;
  sigemptyset(&escape.sa_mask);
  sigaction(SIGSEGV, &escape, &old_segv);
  sigaction(SIGBUS, &escape, &old_bus);
  sigset_t faults, before;
  sigemptyset(&faults);
  sigaddset(&faults, SIGSEGV);
  sigaddset(&faults, SIGBUS);
  pthread_sigmask(SIG_UNBLOCK, &faults, &before);  // a fault on a blocked signal would end the process
  volatile int n = -1;
  if (sigsetjmp(g_unwind_escape, 1) == 0) n = backtrace(frames, capacity);
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  sigaction(SIGSEGV, &old_segv, nullptr);
  sigaction(SIGBUS, &old_bus, nullptr);
  return n;
}

// The objects on this thread's stack from the interrupted instruction outwards, each once per run of frames; -1
// when the stack could not be read.
int stack_objects(const Registers& r, Object* out, int capacity) {
  void* frames[64];
  const int n = guarded_backtrace(frames, 64);
  if (n < 0) return -1;
  int first = 0;  // the interrupted frame: the frames before it are this handler's and the signal trampoline's
  while (first < n && frames[first] != r.pc) ++first;
  if (first == n) return -1;
  int count = 0;
  for (int i = first; i < n && count < capacity; ++i) {
    const Object o = object_of(frames[i]);
    if (count == 0 || o.start != out[count - 1].start) out[count++] = o;
  }
  return count;
}

bool sent_from_outside(const siginfo_t* info) { return info && info->si_code <= 0 && info->si_pid != getpid(); }

// The first line, written before anything that could fail: the signal, and where it struck.
void write_signal_line(int signal, const siginfo_t* info, const Object& at) {
  Line line;
  line << "genplug: fatal: SIG" << sigabbrev_np(signal) << " (" << sigdescr_np(signal) << ")";
  if (sent_from_outside(info)) {
    line << " sent by process ";
    line.decimal(uint64_t(info->si_pid)) << " (not a crash); nothing more was done";
    line.write_out();
    return;
  }
  if (info && info->si_code <= 0) {
    line << (signal == SIGABRT ? ", abort() called" : ", raised by the process itself");
  } else if (info && signal != SIGABRT) {
    line << " at address ";
    line.hex(reinterpret_cast<uintptr_t>(info->si_addr));
  }
  if (!at.start)
    line << " in no library (a jump through a bad pointer)";
  else if (!is_runtime(at))
    line << " in " << at.path;
  line << "; nothing more was done";
  line.write_out();
}

void write_chain(const Object* objects, int count, bool unreadable) {
  Line chain;
  chain << "genplug: the crashing thread's libraries, innermost first:";
  for (int i = 0; i < count; ++i) chain << (i ? " <- " : " ") << base_name(objects[i].path);
  if (unreadable) chain << " (the rest of the stack could not be read)";
  chain.write_out();
}

// Who is to blame: the first object on the stack that is neither a runtime nor genplug; genplug when there is
// none (its own bug, or data a plugin handed it earlier).
void write_culprit(const Object* objects, int count) {
  const Object* innermost = nullptr;  // of those that are no runtime
  const Object* plugin = nullptr;
  for (int i = 0; i < count; ++i) {
    if (!objects[i].start || is_runtime(objects[i])) continue;
    if (!innermost) innermost = &objects[i];
    if (objects[i].start != g_genplug_start && !plugin) plugin = &objects[i];
  }
  Line line;
  if (plugin && innermost == plugin)
    line << "genplug: a plugin or a library it uses crashed: " << plugin->path;
  else if (plugin)
    line << "genplug: genplug crashed on what a plugin gave it, called from " << plugin->path;
  else
    line << "genplug: no plugin is on the crashing thread's stack: a bug in genplug, or data a plugin gave it "
            "earlier; please report it with the command that crashed";
  if (plugin) line << " (`genplug validate LIBRARY` checks a plugin library in child processes)";
  line.write_out();
  bool allocator = false;  // among the runtimes where the crash struck (an abort() it called is libc's)
  for (int i = 0; i < count && is_runtime(objects[i]); ++i) allocator |= is_allocator(objects[i]);
  if (allocator) {
    Line heap;
    heap << "genplug: the allocator found its heap corrupt: any library may have corrupted it earlier";
    heap.write_out();
  }
}

void write_report(int signal, const siginfo_t* info, void* context) {
  const Registers r = registers_of(context);
  const Object at = object_of(r.pc);
  write_signal_line(signal, info, at);
  if (sent_from_outside(info)) return;
  Object objects[12];
  int count = 0;
  bool unreadable = false;
  if (!at.start) {  // no unwinding from an address in no object: the unwinder would read code that is not there
    objects[count++] = at;
    if (const Object caller = caller_of_wild_jump(r); caller.start) objects[count++] = caller;
  } else {
    count = stack_objects(r, objects, 12);
    if (count < 0) objects[0] = at, count = 1, unreadable = true;
  }
  write_chain(objects, count, unreadable);
  write_culprit(objects, count);
}

void restore_default_actions() {
  for (int s : kFatalSignals) ::signal(s, SIG_DFL);
}

// The process ends by `signal`, whatever the report did: default action, unblocked, raised.
[[noreturn]] void end_by(int signal) {
  restore_default_actions();
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signal);
  raise(signal);
  pthread_sigmask(SIG_UNBLOCK, &only, nullptr);
  _exit(128 + signal);  // not reached: the signal ends the process once unblocked
}

void on_report_deadline(int) { end_by(g_signal); }

// Async-signal-safe, apart from backtrace (warmed up at installation, and guarded against faults). The thread
// that claims the report writes it; another thread crashing meanwhile waits for the end that report brings.
void on_fatal_signal(int signal, siginfo_t* info, void* context) {
  const pid_t me = gettid();
  pid_t expected = 0;
  if (!g_reporter.compare_exchange_strong(expected, me)) {
    if (expected == me) end_by(signal);  // a fault inside the report itself
    for (;;) pause();
  }
  g_signal = signal;
  struct sigaction deadline{};
  deadline.sa_handler = on_report_deadline;  // ignored or not, SIGALRM now ends the process by `signal`
  deadline.sa_flags = SA_ONSTACK;
  sigemptyset(&deadline.sa_mask);
  sigaction(SIGALRM, &deadline, nullptr);
  sigset_t alarm_only;
  sigemptyset(&alarm_only);
  sigaddset(&alarm_only, SIGALRM);
  pthread_sigmask(SIG_UNBLOCK, &alarm_only, nullptr);
  alarm(kReportSeconds);
  host::unlink_pending_output();
  write_report(signal, info, context);
  end_by(signal);
}

}  // namespace

void install_crash_report() {
  if (kSanitized) return;
  if (const Object self = object_of(reinterpret_cast<const void*>(&install_crash_report)); self.start)
    g_genplug_start = self.start;
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
  if (g_installed.load()) on_fatal_signal(signal, info, context);
  end_by(signal);
}

}  // namespace genplug::cli
