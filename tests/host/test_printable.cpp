// Text from files and plugins is printed safely (printable.hpp): terminal control characters and bytes that are
// not UTF-8 become visible escapes; ordinary text, accents and emoji pass unchanged.
#define BOOST_TEST_MODULE printable
#include <boost/test/unit_test.hpp>

#include <genplug/host/printable.hpp>

using genplug::host::printable;

BOOST_AUTO_TEST_CASE(controls_and_broken_utf8_become_escapes) {
  BOOST_TEST(printable("a lighthouse") == "a lighthouse");
  BOOST_TEST(printable("caf\xc3\xa9 \xf0\x9f\x90\x88") == "caf\xc3\xa9 \xf0\x9f\x90\x88");  // é and a cat emoji
  BOOST_TEST(printable("red\x1b[2Jgone") == "red\\x1b[2Jgone");                          // clear screen
  BOOST_TEST(printable("a\nb\tc\rd") == "a\\nb\\tc\\rd");
  BOOST_TEST(printable(std::string("nul\0here", 8)) == "nul\\x00here");
  BOOST_TEST(printable("\x7f") == "\\x7f");
  BOOST_TEST(printable("\xc2\x9b" "31m") == "\\u009b31m");            // C1 CSI
  BOOST_TEST(printable("caf\xe9") == "caf\\xe9");                      // Latin-1, not UTF-8
  BOOST_TEST(printable("\xc0\xaf") == "\\xc0\\xaf");                   // overlong '/'
  BOOST_TEST(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");          // a surrogate
  BOOST_TEST(printable("\xf0\x9f") == "\\xf0\\x9f");                   // cut short
}

// Invisible characters that reorder the text around them or break its line: "evil\u202e\u2066gpj.exe" shows as
// another name on a terminal. Their neighbours (U+2027, U+202F, U+2065, U+206A) and RTL text itself pass.
BOOST_AUTO_TEST_CASE(bidirectional_controls_and_line_separators_become_escapes) {
  BOOST_TEST(printable("evil\xe2\x80\xae" "gpj.exe") == "evil\\u202egpj.exe");  // RIGHT-TO-LEFT OVERRIDE
  BOOST_TEST(printable("a\xe2\x80\xa8" "b\xe2\x80\xa9" "c") == "a\\u2028b\\u2029c");
  BOOST_TEST(printable("\xe2\x81\xa6\xe2\x81\xa9") == "\\u2066\\u2069");  // isolates
  BOOST_TEST(printable("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c") == "\\u200e\\u200f\\u061c");  // marks
  BOOST_TEST(printable("\xe2\x80\xaa") == "\\u202a");
  const std::string neighbours = "\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa";
  BOOST_TEST(printable(neighbours) == neighbours);
  BOOST_TEST(printable("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d") == "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d");  // Hebrew
}
