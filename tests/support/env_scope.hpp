// Test support: an environment variable set or unset for a scope.
#pragma once
#include <cstdlib>
#include <optional>
#include <string>

namespace genplug::test {

// The variable's value for the scope, or unset (nullptr); the previous state restored after, on every way out.
struct EnvScope {
  std::string name;
  std::optional<std::string> before;
  EnvScope(const char* n, const char* value) : name(n) {
    if (const char* v = std::getenv(n)) before = v;
    value ? setenv(n, value, 1) : unsetenv(n);
  }
  ~EnvScope() { before ? setenv(name.c_str(), before->c_str(), 1) : unsetenv(name.c_str()); }
  EnvScope(const EnvScope&) = delete;
  EnvScope& operator=(const EnvScope&) = delete;
};

}  // namespace genplug::test
