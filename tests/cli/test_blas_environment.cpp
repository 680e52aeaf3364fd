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

// A thread count that is no count is dropped with a warning (libtorch printed a stack trace for 0); valid ones,
// nested lists included, stay.
BOOST_AUTO_TEST_CASE(drops_thread_counts_that_are_no_count) {
  setenv("OMP_NUM_THREADS", "0", 1);
  setenv("MKL_NUM_THREADS", " 4,2 ", 1);  // spaces around a count are the libraries' to skip
  setenv("OPENBLAS_NUM_THREADS", "two", 1);
  const auto warnings = genplug::cli::set_blas_thread_defaults();
  BOOST_TEST(std::getenv("OMP_NUM_THREADS") == nullptr);
  BOOST_TEST(std::getenv("OPENBLAS_NUM_THREADS") == nullptr);
  BOOST_TEST(std::string(std::getenv("MKL_NUM_THREADS")) == " 4,2 ");
  BOOST_TEST_REQUIRE(warnings.size() == 2u);
  BOOST_TEST(warnings[0] == "OMP_NUM_THREADS='0' is not a thread count (a whole number >= 1): ignored");
  BOOST_TEST(warnings[1] == "OPENBLAS_NUM_THREADS='two' is not a thread count (a whole number >= 1): ignored");
  unsetenv("MKL_NUM_THREADS");
}

// A count no machine here can use is dropped too (libgomp started every thread: OMP_NUM_THREADS=99999 crashed the
// first parallel region); up to 4 per CPU, at least 16, stays. A nested list counts its levels' product.
BOOST_AUTO_TEST_CASE(drops_thread_counts_beyond_four_per_cpu) {
  BOOST_TEST(genplug::cli::thread_count_limit(2) == 16u);
  BOOST_TEST(genplug::cli::thread_count_limit(0) == 16u);  // unknown
  BOOST_TEST(genplug::cli::thread_count_limit(64) == 256u);
  setenv("OMP_NUM_THREADS", "99999", 1);
  setenv("MKL_NUM_THREADS", "8,5", 1);  // nested: 8 x 5 threads
  setenv("OPENBLAS_NUM_THREADS", "32", 1);
  const auto warnings = genplug::cli::set_blas_thread_defaults(8);
  BOOST_TEST(std::getenv("OMP_NUM_THREADS") == nullptr);
  BOOST_TEST(std::getenv("MKL_NUM_THREADS") == nullptr);
  BOOST_TEST(std::string(std::getenv("OPENBLAS_NUM_THREADS")) == "32");
  BOOST_TEST_REQUIRE(warnings.size() == 2u);
  BOOST_TEST(warnings[0] == "OMP_NUM_THREADS='99999' is more threads than this machine can use (8 CPUs; at most 32 "
                            "taken): ignored");
  BOOST_TEST(warnings[1].rfind("MKL_NUM_THREADS='8,5' is more threads", 0) == 0u, warnings[1]);
  unsetenv("OPENBLAS_NUM_THREADS");
}
