#include "crash_report.hpp"

#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <setjmp.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include <genplug/host/cancel_signals.hpp>
#include <genplug/host/exr_writer.hpp>
#include <genplug/host/printable.hpp>
#include <genplug/internal/sanitized.hpp>


// _dl_find_object, which the report needs (glibc 2.35): dladdr waits for the dynamic loader's lock.
#if defined(__GLIBC__)
#if __GLIBC_PREREQ(2, 35)
#define GENPLUG_CRASH_REPORT 1
#endif
#endif

namespace genplug::cli {
namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
constexpr int kReportSeconds = 10;  // then the process ends by its signal, reported or not

std::atomic<bool> g_installed{false};
pid_t g_reporting_process = 0;  // genplug's: a process a plugin forked (or vforked) crashes on its own
std::atomic<pid_t> g_reporter{0};   // the thread writing the report (0: none yet)
volatile sig_atomic_t g_signal = 0;   // the signal being reported
volatile sig_atomic_t g_guarded = 0;  // the reporter is inside guarded(): a fault there jumps back
sigjmp_buf g_escape;
timer_t g_deadline;  // the report's own timer: a plugin's alarm() or setitimer must not end the report
bool g_have_deadline = false;
const void* g_genplug_start = nullptr;  // where the genplug executable is mapped (the host library is linked in)
const void* g_genplug_libraries[128];   // and the libraries it was linked with (OpenEXR, OCIO, ...): genplug's too
int g_genplug_library_count = 0;
[[maybe_unused]] alignas(16) char g_alternate_stack[64 * 1024];

// One line of the report, built without allocating and written with write(2). Its buffer is static: only the
// thread that claimed the report writes, one line at a time, and a plugin thread's small stack must hold the
// handler. Text from libraries (their paths) is escaped as host::printable escapes it.
class Line {
 public:
  Line() { size_ = 0, cut_ = false; }
  Line& operator<<(const char* s) {
    const size_t n = s ? strlen(s) : 0;
    char piece[host::kMaxPrintablePiece];
    for (size_t i = 0, consumed = 0; i < n; i += consumed) {
      const size_t k = host::printable_piece(s, n, i, piece, consumed);
      for (size_t j = 0; j < k; ++j) put(piece[j]);
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
    if (cut_) text_[size_ - 3] = text_[size_ - 2] = text_[size_ - 1] = '.';  // cut short: said so
    text_[size_++] = '\n';
    for (size_t done = 0; done < size_;) {
      const ssize_t n = ::write(STDERR_FILENO, text_ + done, size_ - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      done += size_t(n);
    }
  }

 private:
  void put(char c) {
    if (size_ < sizeof text_ - 1)
      text_[size_++] = c;
    else
      cut_ = true;
  }
  static char text_[4096];
  static size_t size_;
  static bool cut_;
};
char Line::text_[4096];
size_t Line::size_ = 0;
bool Line::cut_ = false;

// Runs `f`, which may fault (unwinding a smashed stack, reading a name a plugin overwrote): true when it finished,
// false when a SIGSEGV or SIGBUS on this thread cut it short. Such a fault reaches on_fatal_signal again, which
// jumps back here; unblocked for that, as a fault on a blocked signal would end the process.
template <class F> bool guarded(F&& f) {
  sigset_t faults, before;
  sigemptyset(&faults);
  sigaddset(&faults, SIGSEGV);
  sigaddset(&faults, SIGBUS);
  pthread_sigmask(SIG_UNBLOCK, &faults, &before);
  volatile bool finished = false;
  if (sigsetjmp(g_escape, 1) == 0) {
    g_guarded = 1;
    f();
    finished = true;
  }
  g_guarded = 0;
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  return finished;
}

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
#ifdef GENPLUG_CRASH_REPORT
  dl_find_object found;
  if (_dl_find_object(const_cast<void*>(address), &found) != 0) return {};
  if (found.dlfo_map_start == g_genplug_start) return {found.dlfo_map_start, "genplug"};
  const char* name = found.dlfo_link_map ? found.dlfo_link_map->l_name : nullptr;
  return {found.dlfo_map_start, name && *name ? name : "?"};
#else
  (void)address;
  return {};  // no report before glibc 2.35 (install_crash_report)
#endif
}

bool starts_with(const char* s, const char* prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

// genplug's own code: the executable and the libraries it was linked with, loaded before any plugin.
bool is_genplug(const Object& o) {
  if (o.start == g_genplug_start) return true;
  for (int i = 0; i < g_genplug_library_count; ++i)
    if (o.start == g_genplug_libraries[i]) return true;
  return false;
}

bool is_allocator(const Object& o) {
  return starts_with(base_name(o.path), "libtcmalloc") || starts_with(base_name(o.path), "libjemalloc");
}

// The C and C++ runtimes and the allocators: where a crash often happens (memcpy, abort, a throw nobody caught, a
// heap found corrupt) but seldom begins.
bool is_runtime(const Object& o) {
  static const char* const prefixes[] = {"libc.so", "libm.so",       "libstdc++.so", "libgcc_s.so",
                                         "ld-linux", "libpthread.so", "linux-vdso"};
  for (const char* p : prefixes)
    if (starts_with(base_name(o.path), p)) return true;
  return is_allocator(o);
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

// The objects on this thread's stack from the interrupted instruction outwards, each once per run of frames; -1
// when the unwinder did not reach the interrupted frame. Not from an address in no object: the unwinder would
// read code that is not there.
int stack_objects(const Registers& r, const Object& at, Object* out, int capacity) {
  if (!at.start) {
    out[0] = at;
    const Object caller = caller_of_wild_jump(r);
    if (!caller.start) return 1;
    out[1] = caller;
    return 2;
  }
  void* frames[64];
  const int n = backtrace(frames, 64);
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

// The first line: the signal, and where it struck (`at`: nullptr when that could not be told).
void write_signal_line(int signal, const siginfo_t* info, const Object* at) {
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
  if (at && !at->start)
    line << " in no library (code generated at run time, or a jump through a bad pointer)";
  else if (at && !is_runtime(*at))
    line << " in " << at->path;
  line << "; nothing more was done";
  line.write_out();
}

void write_chain(const Object* objects, int count, bool cut) {
  Line chain;
  chain << "genplug: the crashing thread's libraries, innermost first:";
  for (int i = 0; i < count; ++i) chain << (i ? " <- " : " ") << base_name(objects[i].path);
  if (cut) chain << (count ? " (the rest of the stack could not be read)" : " (the stack could not be read)");
  chain.write_out();
}

// Who is to blame: the first object on the stack that is neither a runtime nor genplug; genplug when there is
// none (its own bug, data a plugin handed it earlier, or a plugin's function that ended in a jump to the runtime,
// which leaves no frame of its own).
void write_culprit(const Object* objects, int count, bool cut) {
  const Object* innermost = nullptr;  // of those that are no runtime
  const Object* plugin = nullptr;
  for (int i = 0; i < count; ++i) {
    if (!objects[i].start || is_runtime(objects[i])) continue;
    if (!innermost) innermost = &objects[i];
    if (!is_genplug(objects[i]) && !plugin) plugin = &objects[i];
  }
  Line line;
  if (plugin && innermost == plugin)
    line << "genplug: a plugin or a library it uses crashed: " << plugin->path;
  else if (plugin)
    line << "genplug: genplug crashed on what a plugin gave it, called from " << plugin->path;
  else if (cut)
    line << "genplug: which library is to blame is not known (its stack could not be read)";
  else
    line << "genplug: no plugin is on the crashing thread's stack: a bug in genplug, data a plugin gave it earlier, "
            "or a plugin function that ended in a jump to the C runtime (which leaves no frame)";
  if (plugin)
    line << " (`genplug validate LIBRARY` checks a plugin library in child processes)";
  else if (!cut)
    line << "; please report it with the command that crashed";
  line.write_out();
  bool allocator = false;  // among the runtimes where the crash struck (an abort() it called is libc's)
  for (int i = 0; i < count && is_runtime(objects[i]); ++i) allocator |= is_allocator(objects[i]);
  if (allocator) {
    Line heap;
    heap << "genplug: the allocator found its heap corrupt: any library may have corrupted it earlier";
    heap.write_out();
  }
}

// A fault within 256 KiB of the stack pointer: the stack's own memory is mapped there, so only its end (the guard
// below it) can fault. Said with the limit that sizes the main thread's stack and, by default, every other's: under
// a small ulimit -s the reports had blamed libtorch, or genplug ("a bug"), for what the limit did.
void write_stack_overflow_line(int signal, const siginfo_t* info, const Registers& r) {
  if ((signal != SIGSEGV && signal != SIGBUS) || !info || info->si_code <= 0 || !r.sp) return;
  const uintptr_t address = reinterpret_cast<uintptr_t>(info->si_addr), sp = reinterpret_cast<uintptr_t>(r.sp);
  const uintptr_t distance = address > sp ? address - sp : sp - address;
  if (distance >= (uintptr_t(256) << 10)) return;
  Line line;
  line << "genplug: the fault is at the end of the crashing thread's stack: a stack overflow (ulimit -s is ";
  rlimit stack{};  // getrlimit is one system call in glibc, safe here though not on POSIX's list
  if (::getrlimit(RLIMIT_STACK, &stack) != 0)
    line << "unknown)";
  else if (stack.rlim_cur == RLIM_INFINITY)
    line << "unlimited)";
  else
    line.decimal(uint64_t(stack.rlim_cur) >> 10) << " KiB)";
  line.write_out();
}

// Each step guarded: whatever faults (a smashed stack, a name a plugin overwrote) loses that step's detail, not
// the lines before it.
void write_report(int signal, const siginfo_t* info, void* context) {
  const Registers r = registers_of(context);
  Object at;
  const bool located = guarded([&] { at = object_of(r.pc); });
  if (!guarded([&] { write_signal_line(signal, info, located ? &at : nullptr); }))
    write_signal_line(signal, info, nullptr);  // the faulting library's name could not be read
  if (sent_from_outside(info)) return;
  write_stack_overflow_line(signal, info, r);
  Object objects[12];
  int count = -1;
  if (located) guarded([&] { count = stack_objects(r, at, objects, 12); });
  const bool cut = count < 0;
  if (cut && located) objects[0] = at, count = 1;
  if (cut && !located) count = 0;
  if (!guarded([&] { write_chain(objects, count, cut); })) write_chain(objects, 0, true);
  if (!guarded([&] { write_culprit(objects, count, cut); })) write_culprit(objects, 0, true);
}

void restore_default_actions() {
  for (int s : kFatalSignals) ::signal(s, SIG_DFL);
}

// The process ends by `signal`, whatever the report did: default action, raised, unblocked.
[[noreturn]] void end_by(int signal) {
  restore_default_actions();
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signal);
  raise(signal);
  pthread_sigmask(SIG_UNBLOCK, &only, nullptr);
  _exit(128 + signal);  // not reached: the signal ends the process once unblocked
}

volatile sig_atomic_t g_timer_armed = 0;  // the deadline is the report's timer, not alarm()

// The deadline's signal: the report's own timer's only, when it runs (a plugin may use the same signal).
void on_deadline(int, siginfo_t* info, void*) {
  if (!g_timer_armed || (info && info->si_code == SI_TIMER && info->si_value.sival_ptr == &g_deadline))
    end_by(g_signal);
}

// A real-time signal no library is known to use (glibc takes the first two or three).
int deadline_signal() { return SIGRTMAX - 3; }

// kReportSeconds from now the process ends by the signal being reported, whatever the report waits for: through
// the report's own timer, else (none could be made) alarm(), whose SIGALRM a plugin may have armed too.
void handle_deadline(int signal) {
  struct sigaction action{};
  action.sa_sigaction = on_deadline;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  sigaction(signal, &action, nullptr);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signal);
  pthread_sigmask(SIG_UNBLOCK, &only, nullptr);
}

void arm_deadline() {
  if (g_have_deadline) {
    handle_deadline(deadline_signal());
    itimerspec when{};
    when.it_value.tv_sec = kReportSeconds;
    g_timer_armed = timer_settime(g_deadline, 0, &when, nullptr) == 0;
    if (g_timer_armed) return;
  }
  handle_deadline(SIGALRM);
  alarm(kReportSeconds);
}

// Async-signal-safe, apart from backtrace (warmed up at installation, and guarded). The thread that claims the
// report writes it; another thread crashing meanwhile waits for the end that report brings.
void on_fatal_signal(int signal, siginfo_t* info, void* context) {
  if (getpid() != g_reporting_process) end_by(signal);  // a child a plugin forked: its crash, its status
  const pid_t me = gettid();
  pid_t expected = 0;
  if (!g_reporter.compare_exchange_strong(expected, me)) {
    if (expected != me)
      for (;;) pause();
    if (g_guarded) siglongjmp(g_escape, 1);  // a fault the report was ready for
    end_by(g_signal);                        // any other fault inside the report ends it as the crash would have
  }
  g_signal = signal;
  host::disarm_cancel_grace();  // a cancellation's grace must not cut the report short: it has its own deadline
  arm_deadline();
  host::unlink_pending_output();
  write_report(signal, info, context);
  end_by(signal);
}

// For dl_iterate_phdr at installation: each object loaded then, by where it is mapped, as _dl_find_object says.
[[maybe_unused]] int note_genplug_library(dl_phdr_info* info, size_t, void*) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    if (info->dlpi_phdr[i].p_type != PT_LOAD) continue;
    const Object o = object_of(reinterpret_cast<const void*>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr));
    if (o.start && g_genplug_library_count < int(sizeof g_genplug_libraries / sizeof *g_genplug_libraries))
      g_genplug_libraries[g_genplug_library_count++] = o.start;
    break;
  }
  return 0;
}

}  // namespace

void install_crash_report() {
#ifdef GENPLUG_CRASH_REPORT
  if (internal::kSanitized) return;
  g_reporting_process = getpid();
  if (const Object self = object_of(reinterpret_cast<const void*>(&install_crash_report)); self.start)
    g_genplug_start = self.start;
  dl_iterate_phdr(note_genplug_library, nullptr);
  void* warm_up[4];
  backtrace(warm_up, 4);  // loads the unwinder now: a first call would allocate
  sigevent when_due{};
  when_due.sigev_notify = SIGEV_SIGNAL;
  when_due.sigev_signo = deadline_signal();
  when_due.sigev_value.sival_ptr = &g_deadline;
  g_have_deadline = timer_create(CLOCK_MONOTONIC, &when_due, &g_deadline) == 0;
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
#endif
}

bool crash_report_claimed() { return g_reporter.load() != 0; }

void report_crash(int signal, siginfo_t* info, void* context) {
  if (g_installed.load()) on_fatal_signal(signal, info, context);
  end_by(signal);
}

}  // namespace genplug::cli
