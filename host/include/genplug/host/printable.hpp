// genplug host — text from files and plugins made safe for a terminal: control characters (C0, DEL, C1; they
// can move the cursor, clear the screen or retitle the window), the invisible bidirectional controls and line
// separators (U+202E and the like: they make a terminal show the text in another order) and bytes that are not
// UTF-8 become visible escapes (\n, \x1b, \u009b, \u202e). Everything the CLI prints that it did not write
// itself goes through this.
#pragma once
#include <cstddef>
#include <string>

namespace genplug::host {

std::string printable(const std::string& text);

// One character of `text` (`size` bytes) at byte `at`, as printable() writes it: the character itself or its
// escape, at most kMaxPrintablePiece bytes into `out`; returns how many, and sets `consumed` to the bytes of `text`
// it stands for (1 to 4). Allocates nothing and calls nothing: usable in a signal handler (crash_report.cpp).
constexpr std::size_t kMaxPrintablePiece = 6;
std::size_t printable_piece(const char* text, std::size_t size, std::size_t at, char* out,
                            std::size_t& consumed) noexcept;

}  // namespace genplug::host
