// FNV-1a, 64 bit: a small, stable, non-cryptographic hash. The host uses it to recognise a work item's render
// (resume on farms) and to fingerprint pixel data; the same bytes give the same value on every machine.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace genplug::host {

class Fnv1a {
 public:
  Fnv1a& add(const void* data, size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < size; ++i) state_ = (state_ ^ p[i]) * 0x100000001b3ULL;
    return *this;
  }
  Fnv1a& add(const std::string& s) { return add(s.data(), s.size()); }
  uint64_t value() const { return state_; }
  // 16 lower-case hex digits.
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(state_));
    return buf;
  }

 private:
  uint64_t state_ = 0xcbf29ce484222325ULL;
};

}  // namespace genplug::host
