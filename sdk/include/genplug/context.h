/** @file
 * genplug — the call context: the services a host lends to a plugin for the duration of one call, the
 * ownership rules every function of the ABI follows unless its comment says otherwise, and the thread labels
 * every function carries.
 *
 * Ownership: the host owns the context. A plugin may use it only until the function it was passed to
 * returns, and must not keep the pointer. Every callback may be NULL in a host that does not provide it
 * (check before calling; the C++ wrapper does). Host callbacks never unwind into the plugin.
 *
 * @par OWNERSHIP BY DEFAULT — what holds where a function's comment says nothing else.
 * - Every pointer argument (strings, queries, arrays, DLTensors, out-parameter addresses) is borrowed for the
 *   call: the callee neither frees it nor keeps it after returning. So is every pointer a plugin passes to a
 *   host callback.
 * - A function that fails passes no ownership: the callee has freed whatever it made for the call, and the
 *   caller reads from its out-parameters only what the function's comment says a failure reports (the size a
 *   too-small buffer needs; create's NULL instance). What already crossed stays where it went (a tensor
 *   condition passed to its sink is the host's).
 *
 * @par THREAD LABELS — a closed vocabulary.
 * Every function, callback and table member of the ABI says one of:
 *
 * - `[thread: control]`  Calls that create, change or free an instance, or that need it to themselves (an
 *                        inspector's probe, inspect and tokenize). A host makes them one at a time, and a
 *                        control call on an instance never overlaps any other call on it. They are not tied to
 *                        one thread (a host's garbage collector may destroy from another). Hosts that share one
 *                        library (entry.h, init) each make their own, so control calls on different instances,
 *                        create included, may overlap.
 * - `[thread: render]`   A thread the host renders on (it may be the control thread). The host makes render
 *                        calls on one instance one at a time, never overlapping a control call on it.
 *                        Different instances, even of one plugin, may render concurrently on different threads.
 * - `[thread: any]`      Any thread, concurrently with any other render or any call, itself included — but
 *                        never overlapping a control call on the same instance (so a control call may replace
 *                        what an any call reads). The implementation is thread-safe and does not block for long.
 * - `[thread: caller]`   Callbacks and lent tables only: the thread that is running the call which received
 *                        them, and only during that call.
 *
 * A host callback labelled `any` (log, is_cancelled) may be called from any thread the plugin runs for the call
 * that received the context, and only while that call runs.
 *
 * A plugin may rely on these guarantees and must not assume more; a host must keep them. Labels are checked
 * where they can be (`genplug validate`, tests/abi). */
#ifndef GENPLUG_CONTEXT_H
#define GENPLUG_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "version.h"

GENPLUG_BEGIN_DECLS

/** @name Log severities
 *  Fixed values, the `severity` of genplug_context_t.log.
 *  @{ */
#define GENPLUG_LOG_DEBUG 0   /**< debug detail */
#define GENPLUG_LOG_INFO 1    /**< information */
#define GENPLUG_LOG_WARNING 2 /**< a warning */
#define GENPLUG_LOG_ERROR 3   /**< an error */
/** @} */

/** The services a host lends to a plugin for one call (see the file comment for ownership and the thread
 *  labels). Host-owned; valid only until the call it was passed to returns. Every callback may be NULL. */
typedef struct genplug_context {
  uint32_t struct_size; /**< sizeof(genplug_context_t) as the host compiled it */
  void* host_data;      /**< opaque to the plugin */

  /** Reports why the current call fails. The host copies `message` (UTF-8, NUL-terminated) before
   * returning, so the plugin may pass a stack buffer. Call it at most once per failing call, with the
   * same code the function then returns. [thread: caller] */
  void (*set_error)(const struct genplug_context* ctx, genplug_status code, const char* message);

  /** A log line for the user (UTF-8, NUL-terminated; the host copies it). Only during the call, from the
   * calling thread or any thread the plugin runs for it. [thread: any] */
  void (*log)(const struct genplug_context* ctx, int32_t severity, const char* message);

  /** Progress of long work: `done` of `total` units of `stage` (a short UTF-8 label, copied).
   * Returns non-zero when the host asks the plugin to stop: the plugin then returns GENPLUG_E_CANCELLED
   * promptly, leaving its instance usable. [thread: caller] */
  int32_t (*progress)(const struct genplug_context* ctx, uint64_t done, uint64_t total, const char* stage);

  /** Cheap, pollable: non-zero once the host wants the current call stopped. Only during the call, from
   * any thread the plugin runs for it. [thread: any] */
  int32_t (*is_cancelled)(const struct genplug_context* ctx);
} genplug_context_t;

GENPLUG_END_DECLS

#endif /* GENPLUG_CONTEXT_H */
