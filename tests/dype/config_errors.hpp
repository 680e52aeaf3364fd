// The DyPE config tests' check of a refused config (include after BOOST_TEST_MODULE's unit_test.hpp).
#pragma once
#include <initializer_list>
#include <string>

#include <boost/test/unit_test.hpp>

#include <genplug/dype/config.hpp>
#include <genplug/plugin.hpp>

namespace dype_test {

// Parses and expects a ConfigError whose message contains every needle.
inline void expect_error(const std::string& config, std::initializer_list<const char*> needles) {
  try {
    genplug::dype::parse_config(config);
    BOOST_ERROR("accepted bad config " << config);
  } catch (const genplug::ConfigError& e) {
    BOOST_CHECK_EQUAL(e.code(), GENPLUG_E_CONFIG);
    for (const char* n : needles)
      BOOST_CHECK_MESSAGE(std::string(e.what()).find(n) != std::string::npos,
                          config << " -> '" << e.what() << "' lacks '" << n << "'");
  }
}

}  // namespace dype_test
