/** @file
 * genplug — inspector plugins ("genplug.inspector/1", ABI 1.1; the tokenize extension since genplug 0.3).
 *
 * An inspector describes files a plugin can read — a weights file or folder, an adapter — without loading
 * them, so a host can show what a file holds and which config would use it while knowing no model format.
 * Model plugins usually ship one beside the model (the FLUX plugin: "org.genplug.flux.inspect"). Numbers and
 * text only: no tensors cross. */
#ifndef GENPLUG_INSPECTOR_H
#define GENPLUG_INSPECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "entry.h"
#include "status.h"

GENPLUG_BEGIN_DECLS

/** An inspector instance, made by the factory of GENPLUG_KIND_INSPECTOR. Plugin-owned; the host frees it with
 *  destroy(), exactly once. */
typedef struct genplug_inspector {
  uint32_t struct_size; /**< sizeof(genplug_inspector_t) as the plugin compiled it */
  void* impl; /**< the plugin's own state; opaque to the host */

  /** Frees the instance; called exactly once. [thread: control] */
  void (*destroy)(struct genplug_inspector* self);

  /** How well this inspector knows `path` (UTF-8, borrowed): `*out_score` 0 = not a file it reads,
   * 1..100 = the more certain, the higher (a file of its format, but not of its model: low). Reads as little
   * as it needs. A file that cannot be opened is GENPLUG_E_IO; a file of its format that cannot be mapped for
   * want of memory or address space is GENPLUG_E_OUT_OF_MEMORY (it may be sound), or GENPLUG_E_IO where it is
   * larger than the process's address-space limit itself (no retry maps it); a file of another format is
   * GENPLUG_OK with score 0. [thread: control] */
  genplug_status (*probe)(struct genplug_inspector* self, const char* path, uint32_t* out_score,
                          const genplug_context_t* ctx);

  /** Describes `path` into `*out_json`: a JSON object (UTF-8, NUL-terminated, inspector-owned, valid until the
   * next probe, inspect or tokenize on this instance, or destroy) with at least "format" (a short name) and "summary" (one line for
   * people); inspectors add what they know ("tensors", "config", "components", ...). A file it cannot
   * describe (corrupt, not its format) is GENPLUG_E_IO with a message naming what is wrong. [thread: control] */
  genplug_status (*inspect)(struct genplug_inspector* self, const char* path, const char** out_json,
                            const genplug_context_t* ctx);

  /** Optional interfaces by versioned id, or NULL when the instance has none of that id (a lookup that cannot
   * fail). The same id gives the same pointer, which lives as long as the instance. [thread: any] */
  const void* (*get_extension)(struct genplug_inspector* self, const char* extension_id);
} genplug_inspector_t;

/** Optional inspector extension (genplug 0.3, ABI 1.1: found by id; get_extension(GENPLUG_EXT_INSPECTOR_TOKENIZE)): how the plugin's
 *  tokenizers read a prompt, so a host can show why two prompts differ without loading a model. The table is
 *  inspector-owned, valid until destroy. */
#define GENPLUG_EXT_INSPECTOR_TOKENIZE "org.genplug.inspector.tokenize/1"

/** The table of GENPLUG_EXT_INSPECTOR_TOKENIZE: inspector-owned, valid until destroy. */
typedef struct genplug_inspector_tokenize {
  uint32_t struct_size; /**< sizeof(genplug_inspector_tokenize_t) as the plugin compiled it */
  /** Tokenizes `prompt` (UTF-8, borrowed for the call) with the tokenizers that `config_json` (a JSON object,
   * UTF-8, borrowed for the call; the keys of the plugin's own text config, FLUX: config.text) names, into
   * `*out_json`: a JSON object (UTF-8, NUL-terminated, inspector-owned, valid until the next probe, inspect or
   * tokenize on this instance, or destroy) {"tokenizers": [{"name", "file", "text" (what the tokenizer segments: the prompt after
   * its clean-up or normalisation), "ids" (with the tokenizer's special tokens, without padding), "pieces" (one
   * string per id), "max_length", "dropped" (content tokens cut by max_length)}, ...]}. A prompt that is not
   * UTF-8 (or longer than the plugin tokenizes: FLUX, 64 KiB) is GENPLUG_E_INVALID_ARGUMENT, a config naming no
   * tokenizer (or giving a key twice) GENPLUG_E_CONFIG, a missing or corrupt
   * tokenizer file GENPLUG_E_IO; the message (in ctx) says which. [thread: control] */
  genplug_status (*tokenize)(struct genplug_inspector* self, const char* config_json, const char* prompt,
                             const char** out_json, const genplug_context_t* ctx);
} genplug_inspector_tokenize_t;

GENPLUG_END_DECLS

#endif /* GENPLUG_INSPECTOR_H */
