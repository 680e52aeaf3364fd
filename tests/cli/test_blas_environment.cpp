// The genplug CLI's defaults for the math libraries' environment (host/cli/blas_environment.hpp): OpenBLAS's pool
// parks soon after each product unless the user chose otherwise.
#define BOOST_TEST_MODULE blas_environment
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <string>

#include "blas_environment.hpp"

namespace {
std::string timeout() {
  const char* t = std::getenv("OPENBLAS_THREAD_TIMEOUT");
  return t != nullptr ? t : "(unset)";
}
}  // namespace

BOOST_AUTO_TEST_CASE(sets_the_thread_timeout_when_unset) {
  unsetenv("OPENBLAS_THREAD_TIMEOUT");
  genplug::cli::set_blas_thread_defaults();
  BOOST_TEST(timeout() == "16");
}

BOOST_AUTO_TEST_CASE(keeps_the_users_thread_timeout) {
  setenv("OPENBLAS_THREAD_TIMEOUT", "28", 1);
  genplug::cli::set_blas_thread_defaults();
  BOOST_TEST(timeout() == "28");
}
