/** @file
 * genplug — the plugin library entry point, plugin descriptors and the common factory.
 *
 * A plugin library exports exactly one symbol, `genplug_entry` (C linkage, a const genplug_entry_t).
 * The host reads it, rejects a different ABI major, calls init() once, then asks get_factory() for each
 * kind it wants by versioned id. One library may hold several plugins of several kinds.
 *
 * ~~~{.unparsed}
 *   host                                    plugin library
 *   ----                                    --------------
 *   dlopen + read genplug_entry  ------->   (abi_major, abi_minor)
 *   entry.init(path, ctx)        ------->   one-time setup, cheap (no weights, no device)
 *   entry.get_factory(id)        ------->   const genplug_factory_t* or NULL
 *   factory.descriptor(i)        ------->   id, name, version, features, config JSON Schema
 *   factory.create(id, config)   ------->   an instance of the kind (posenc.h, scheduler.h, model.h)
 *   ... instance calls ...
 *   instance.destroy()
 *   entry.deinit()               ------->   after the last instance and tensor from the library is gone
 * ~~~
 */
#ifndef GENPLUG_ENTRY_H
#define GENPLUG_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "status.h"
#include "version.h"

GENPLUG_BEGIN_DECLS

/** @name Versioned kind ids
 *  Versioned kind ids, passed to get_factory().
 *  @{ */
#define GENPLUG_KIND_POSENC "genplug.posenc/1"       /**< position encodings (posenc.h) */
#define GENPLUG_KIND_SCHEDULER "genplug.scheduler/1" /**< sigma schedules and samplers (scheduler.h) */
#define GENPLUG_KIND_MODEL "genplug.model/1"         /**< models (model.h) */
#define GENPLUG_KIND_INSPECTOR "genplug.inspector/1" /**< ABI 1.1: describes files a plugin reads (inspector.h) */
/** @} */

/** Name of the exported entry symbol. */
#define GENPLUG_ENTRY_SYMBOL "genplug_entry"

/** What a plugin says about itself. Plugin-owned; every pointer stays valid until the library's last
 * entry.deinit(), so a host may rely on it until its own deinit. */
typedef struct genplug_descriptor {
  uint32_t struct_size;    /**< sizeof(genplug_descriptor_t) as the plugin compiled it */
  const char* id;          /**< reverse-DNS, unique: "org.genplug.dype" (labels of ASCII letters, digits, '-', '_',
                                 each starting with a letter or digit; a host rejects an id that is not UTF-8 or
                                 has a control or bidirectional character) */
  const char* name;        /**< human-readable */
  const char* vendor;      /**< who makes the plugin */
  const char* version;     /**< semver of the plugin: "1.2.0" */
  const char* description; /**< one sentence */
  const char* const* features; /**< NULL-terminated list of tags ("dynamic", "device:cuda"), may be empty */
  const char* config_schema;   /**< JSON Schema (draft 2020-12 subset, docs/manifest.md) of the config object */
} genplug_descriptor_t;

/** One factory layout serves every kind; the kind id it was obtained with decides what create() makes.
 * Plugin-owned, valid until the library's last entry.deinit(), so a host may rely on it until its own deinit. */
typedef struct genplug_factory {
  uint32_t struct_size; /**< sizeof(genplug_factory_t) as the plugin compiled it */

  /** Number of plugins of this kind in the library; fixed between init and deinit. What count() and
   * descriptor() say depends only on the library file (not on the machine, devices or files beside it), so a
   * host may cache it keyed by the file and load the library only to create an instance. [thread: any] */
  uint32_t (*count)(const struct genplug_factory* factory);

  /** Descriptor of plugin `index` (< count), or NULL when out of range. [thread: any] */
  const genplug_descriptor_t* (*descriptor)(const struct genplug_factory* factory, uint32_t index);

  /** Creates an instance of plugin `plugin_id` (borrowed for the call) from `config_json` (UTF-8 JSON object
   * text, NUL-terminated, borrowed for the call, never NULL; "{}" means every default, "" is no JSON object). A
   * NULL or unknown `plugin_id` is an error the plugin reports (`genplug validate` checks both). On success
   * `*out_instance` points to the kind's instance struct (genplug_posenc_t*, genplug_scheduler_t*,
   * genplug_model_t*, genplug_inspector_t*), owned by the caller until it calls the instance's destroy();
   * [thread: control] calls on it never overlap any other call on it (context.h), whichever thread makes them. On
   * failure `*out_instance` is NULL and the error is reported through ctx->set_error, naming the offending config
   * field where there is one.
   * The plugin validates the config itself (not every host checks it against config_schema first): text
   * that is not a JSON object, unknown fields, a key given twice and out-of-range values are GENPLUG_E_CONFIG
   * (the shipped plugins since 0.3.4; JSON would keep the last value only). May be slow for
   * models (it loads weights). Hosts sharing the library (init) may create concurrently (context.h); a create
   * that changes process-wide state says so in the plugin's docs (FLUX: OpenBLAS's kernels, docs/flux.md).
   * [thread: control] */
  genplug_status (*create)(const struct genplug_factory* factory, const char* plugin_id,
                           const char* config_json, const genplug_context_t* ctx, void** out_instance);
} genplug_factory_t;

/** The one symbol a plugin library exports, as `genplug_entry` (GENPLUG_ENTRY_SYMBOL): a const
 *  genplug_entry_t with C linkage. The host reads it, rejects a different ABI major, then calls init() (see the
 *  file comment for the whole sequence). */
typedef struct genplug_entry {
  uint32_t struct_size; /**< sizeof(genplug_entry_t) as the plugin compiled it */
  uint32_t abi_major;   /**< GENPLUG_ABI_MAJOR the plugin was built with */
  uint32_t abi_minor;   /**< GENPLUG_ABI_MINOR the plugin was built with */

  /** Called after loading, before anything else. `library_path` is the path the host loaded the library from
   * (UTF-8, borrowed for the call; the reference host passes it absolute, a host should), so a plugin can find
   * files beside it. Must be cheap: no weights, no device.
   * Several independent hosts in one process may share one loaded copy of a library, each from its own
   * thread, and no host can know of the others: init and deinit come in pairs per host, possibly
   * concurrently. The library counts them under its own lock; the first init sets up, only the last deinit
   * releases, and a later init sets up again. deinit is not called for an init that failed.
   * (ABI 1.0 said hosts serialise init/deinit; no host can keep that promise across hosts, see docs/abi.md.
   * A host still serialises its own calls, and for a library built against ABI 1.0 it keeps one init per
   * process, as the reference host does.) Each host calls from its own control thread. [thread: any] */
  genplug_status (*init)(const char* library_path, const genplug_context_t* ctx);

  /** Undoes one init of the calling host, after every instance and tensor that host got from the
   * library is gone. Each host calls from its own control thread. [thread: any] */
  void (*deinit)(void);

  /** The factory for a kind id (GENPLUG_KIND_*), or NULL if the library holds no plugin of that kind
   * (not an error: kinds are optional). Called only between a host's init and its deinit; the pointer stays
   * valid until that deinit. [thread: any] */
  const genplug_factory_t* (*get_factory)(const char* kind_id);
} genplug_entry_t;

/** The plugin library's definition, in C and in C++ alike:
 *  `GENPLUG_EXTERN_C GENPLUG_EXPORT const genplug_entry_t genplug_entry = {sizeof(genplug_entry_t),
 *  GENPLUG_ABI_MAJOR, GENPLUG_ABI_MINOR, init, deinit, get_factory};`. This declaration checks its type, and backs
 *  up a C++ definition that leaves out GENPLUG_EXTERN_C: a const object at namespace scope is internal in C++, so
 *  the library would export nothing; declared here, it is exported (g++ still warns that the visibility attribute
 *  was ignored: write GENPLUG_EXTERN_C). Define GENPLUG_NO_ENTRY_DECLARATION before including to leave it out
 *  (genplug's tests of libraries whose `genplug_entry` is of another type). Hosts find the symbol with dlsym and
 *  never use this name. */
#ifndef GENPLUG_NO_ENTRY_DECLARATION
GENPLUG_EXPORT extern const genplug_entry_t genplug_entry;
#endif

GENPLUG_END_DECLS

#endif /* GENPLUG_ENTRY_H */
