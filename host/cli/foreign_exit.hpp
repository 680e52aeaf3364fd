// A plugin (or a library under one) that calls exit() ends genplug with the plugin's status: exit(0) in an init,
// with nothing written, reads as success to a farm. Until genplug returns from main, exit() is the plugin's error.
#pragma once

namespace genplug::cli {

// Installs the guard (on_exit): an exit() before genplug_finished() writes one line naming the status, removes
// the output being written, and ends the process with exit code 4 (a plugin error). Exit handlers run last
// registered first, so a plugin's static destructors run before it. Not for `validate`'s probes,
// which report a plugin's exit() as a failure of its check, with the plugin's status.
void guard_against_foreign_exit();

// genplug's own end: main returns, and exit() runs the usual handlers.
void genplug_finished();

}  // namespace genplug::cli
