// Test support: run a check in a child process under a ulimit -v (RLIMIT_AS) that leaves a given room past what the
// process has mapped. Relative to what is mapped, so it holds under the sanitizers too, whose shadow maps are large.
#pragma once
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>

namespace genplug::test {

// Bytes this process has mapped (VmSize); 0 when /proc says nothing.
inline uint64_t vm_size() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) * 1024;
  return 0;
}

// What `check` says in a forked child whose ulimit -v leaves `left` bytes past what it has mapped: 0 when true,
// 1 when false, 2 when the limit could not be set (or /proc gave no size), 3 when check threw; 128 + signal when
// a signal ended it. Only the soft limit is lowered: a hard limit the runner set stays, and bounds it. The limit
// ends with the child.
template <class Check>
int under_address_space_limit(uint64_t left, Check check) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    rlimit limit{};
    const uint64_t mapped = vm_size();
    if (mapped == 0 || ::getrlimit(RLIMIT_AS, &limit) != 0) ::_exit(2);
    limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? rlim_t(mapped + left)
                                                     : std::min(rlim_t(mapped + left), limit.rlim_max);
    if (::setrlimit(RLIMIT_AS, &limit) != 0) ::_exit(2);
    try {
      ::_exit(check() ? 0 : 1);
    } catch (...) {
      ::_exit(3);
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace genplug::test
