// genplug host — text from files and plugins made safe for a terminal: control characters (C0, DEL, C1; they
// can move the cursor, clear the screen or retitle the window), the invisible bidirectional controls and line
// separators (U+202E and the like: they make a terminal show the text in another order) and bytes that are not
// UTF-8 become visible escapes (\n, \x1b, \u009b, \u202e). Everything the CLI prints that it did not write
// itself goes through this.
#pragma once
#include <string>

namespace genplug::host {

std::string printable(const std::string& text);

}  // namespace genplug::host
