// Test support for manifest suites: the one-line error a manifest gives (exit code 3), or "" when it parses.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <genplug/host/errors.hpp>
#include <genplug/host/manifest.hpp>

namespace genplug::test {

inline std::string manifest_error(nlohmann::json doc, const std::filesystem::path& path = "m.json",
                                  const std::vector<std::string>& overrides = {}) {
  try {
    host::Manifest::parse(std::move(doc), path, overrides);
  } catch (const host::HostError& e) {
    BOOST_TEST(e.exit_code() == 3);
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace genplug::test
