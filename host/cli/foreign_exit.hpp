// A plugin (or a library under one) that calls exit() ends genplug with the plugin's status: exit(0) in an init,
// with nothing written, reads as success to a farm. Until genplug returns from main, exit() is the plugin's error.
#pragma once

namespace genplug::cli {

// Installs the guard: an exit() before genplug_finished() writes one line naming the status, removes the output
// being written, and ends the process with exit code 4 (a plugin error). It acts inside exit() itself, which the
// executable exports for plugins to bind to, before any exit handler runs (a plugin's static destructors
// included); a call from inside libc (error()) meets it as an on_exit handler, after those registered since. Not
// for `validate`'s probes, which report a plugin's exit() as a failure of its check, with the plugin's status,
// nor for a child process a plugin forked.
void guard_against_foreign_exit();

// genplug's own end: main returns, and exit() runs the usual handlers.
void genplug_finished();

}  // namespace genplug::cli
