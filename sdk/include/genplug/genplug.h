/** @file
 * genplug — the whole C ABI. Include this, or only the kind headers you need. */

/** @mainpage genplug SDK reference
 *
 * The C ABI between genplug plugins and hosts (C11 headers: include genplug.h) and the header-only C++17
 * wrappers on either side of it, generated from the headers; docs/abi.md explains the design.
 *
 * - Getting started: @ref md_docs_getting_started_c_host "a host in C",
 *   @ref md_docs_getting_started_python_host "a host in Python (ctypes)",
 *   @ref md_docs_getting_started_cpp_plugin "a plugin in C++".
 * - The C ABI: version.h, status.h, context.h (the call context and the thread labels), entry.h, posenc.h,
 *   scheduler.h, model.h, inspector.h.
 * - C++17: plugin.hpp (writing plugins), host.hpp (writing hosts). */
#ifndef GENPLUG_GENPLUG_H
#define GENPLUG_GENPLUG_H

#include "version.h"
#include "status.h"
#include "context.h"
#include "entry.h"
#include "posenc.h"
#include "scheduler.h"
#include "model.h"
#include "inspector.h"

#endif /* GENPLUG_GENPLUG_H */
