/** @file
 * genplug — ABI version, linkage and export macros.
 *
 * Versioning policy (docs/abi.md):
 *  - GENPLUG_ABI_MAJOR changes only when an existing struct's layout or a function's meaning changes;
 *    a host rejects a plugin whose major differs from its own (and the entry symbol is renamed then, so
 *    one library can serve old and new hosts during a transition).
 *  - GENPLUG_ABI_MINOR grows when fields or functions are appended to a struct. Readers check the
 *    struct's leading `struct_size` before touching an appended field.
 *  - Each plugin kind is reached through a versioned string id ("genplug.posenc/1"); a breaking change
 *    to a kind gets a new id and the old one stays served for a deprecation window. */
#ifndef GENPLUG_VERSION_H
#define GENPLUG_VERSION_H

#include <stddef.h> /* offsetof, for GENPLUG_HAS_FIELD */

/** ABI major version. Changes only when an existing struct's layout or a function's meaning changes; a host
 *  rejects a plugin whose major differs from its own (genplug_entry_t.abi_major). */
#define GENPLUG_ABI_MAJOR 1
/** ABI minor version. Grows when fields or functions are appended to a struct (1.1, 1.2: see docs/abi.md,
 *  "Change log of the ABI"). */
#define GENPLUG_ABI_MINOR 2

/** @def GENPLUG_EXTERN_C
 *  `extern "C"` when compiled as C++, nothing in C: C linkage for one declaration. */
/** @def GENPLUG_BEGIN_DECLS
 *  Opens a block of C declarations: `extern "C" {` in C++, nothing in C. Closed by GENPLUG_END_DECLS. */
/** @def GENPLUG_END_DECLS
 *  Closes a block opened by GENPLUG_BEGIN_DECLS: `}` in C++, nothing in C. */
#ifdef __cplusplus
#define GENPLUG_EXTERN_C extern "C"
#define GENPLUG_BEGIN_DECLS extern "C" {
#define GENPLUG_END_DECLS }
#else
#define GENPLUG_EXTERN_C
#define GENPLUG_BEGIN_DECLS
#define GENPLUG_END_DECLS
#endif

/** @def GENPLUG_EXPORT
 *  Marks the one symbol a plugin library exports. Build plugins with hidden visibility. */
#if defined(_WIN32)
#define GENPLUG_EXPORT __declspec(dllexport)
#else
#define GENPLUG_EXPORT __attribute__((visibility("default")))
#endif

/** True when a struct received from the other side is large enough to hold `field`: `ptr` is not NULL and its
 *  leading `struct_size` reaches past the end of `field` of `type`. Check it before reading a field appended
 *  after the oldest ABI minor the reader supports, and before writing one into a struct the other side owns
 *  (an out-struct such as genplug_spectrum_t or genplug_geometry_t). */
#define GENPLUG_HAS_FIELD(ptr, type, field) \
  ((ptr) != 0 && (ptr)->struct_size >= (offsetof(type, field) + sizeof(((type*)0)->field)))

#endif /* GENPLUG_VERSION_H */
