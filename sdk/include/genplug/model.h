/** @file
 * genplug — model plugins ("genplug.model/1").
 *
 * A model plugin owns the networks (text encoders, denoiser, autoencoder) and exchanges tensors with the
 * host as DLPack. Rules:
 *  - Inputs are `const DLTensor*`, borrowed for the duration of the call; the plugin copies what it keeps.
 *  - Outputs are `DLManagedTensor*` whose ownership passes to the host, which calls `deleter` exactly once;
 *    the deleter is [thread: any]. A producer always sets it (DLPack allows NULL; a careful host treats NULL as
 *    nothing to free). It runs plugin code: the host keeps the library loaded until every
 *    tensor it received from it has been deleted.
 *  - Producers always fill `strides`, and latents (noise, predict, encode) are compact row-major: a host's
 *    CPU operations need no stride logic. Shapes are the model's own; the host treats latents as opaque apart
 *    from element-wise arithmetic (scheduler.h).
 *  - Latents, velocities and conditioning stay where the model keeps them: any device and dtype the model
 *    chooses (its geometry() says which). The host never converts them. For the arithmetic a scheduler needs,
 *    a model whose tensors are not plain CPU memory lends its own operations (GENPLUG_EXT_MODEL_TENSOR_OPS);
 *    a host implements the operations itself on CPU float32/float64/float16/bfloat16 tensors.
 *
 * Image convention (decode output, encode input): CPU memory, float32, [batch, 3, height, width], channels
 * R, G, B, sRGB-encoded (display-referred) with nominal range [0, 1] (values may overshoot slightly).
 *
 * Concurrency: condition, noise, predict, decode and encode are [thread: render]: the host calls them on one
 * instance one at a time (so condition never runs while predict runs on the same instance); different
 * instances may run concurrently. describe, geometry and get_extension are [thread: any]. */
#ifndef GENPLUG_MODEL_H
#define GENPLUG_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <dlpack/dlpack.h>

#include "context.h"
#include "entry.h"
#include "posenc.h"
#include "status.h"

/* DLPack's structs carry no struct_size (docs/abi.md): both sides must agree on the width of its enum and int
 * fields, which the compilers' defaults make 4 bytes and a flag such as -fshort-enums changes. Such a build stops
 * here rather than misread every tensor's device. */
/** @cond */
#if defined(__cplusplus) && __cplusplus >= 201103L
static_assert(sizeof(DLDeviceType) == 4 && sizeof(int) == 4, "genplug's ABI needs DLPack's enums and ints of 4 bytes");
#elif !defined(__cplusplus) && defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(DLDeviceType) == 4 && sizeof(int) == 4, "genplug's ABI needs DLPack's enums and ints of 4 bytes");
#else /* C++98, C99: an array of negative size */
typedef char genplug_dlpack_enums_and_ints_of_4_bytes[(sizeof(DLDeviceType) == 4 && sizeof(int) == 4) ? 1 : -1];
#endif
/** @endcond */

GENPLUG_BEGIN_DECLS

/** Receives named output tensors (conditioning). Host-owned, lent for one call. */
typedef struct genplug_tensor_sink {
  uint32_t struct_size; /**< sizeof(genplug_tensor_sink_t) as the host compiled it */
  void* host_data;      /**< opaque to the plugin */
  /** Takes ownership of `tensor` even when it fails; `name` is copied. A failure (out of memory) is returned
   * by the plugin's call. [thread: caller] */
  genplug_status (*put)(const struct genplug_tensor_sink* sink, const char* name, DLManagedTensor* tensor);
} genplug_tensor_sink_t;

/** ABI 1.1 — the length of every per-axis array of genplug_geometry_t. The model's geometry for one image (or
 * clip): everything a host needs to drive it without knowing the model. Fixed-size arrays: a host allocates the
 * struct on its stack. */
#define GENPLUG_MAX_AXES 8

/** ABI 1.1 — the image (or clip) a geometry is asked for (genplug_model_t.geometry). Host-owned, borrowed for the
 *  call. */
typedef struct genplug_geometry_query {
  uint32_t struct_size; /**< sizeof(genplug_geometry_query_t) as the host compiled it */
  uint32_t height; /**< image height in pixels; 0 = the model's default */
  uint32_t width;  /**< image width in pixels; 0 = the model's default */
  uint32_t frames; /**< frames of a video model; 0 = its default (1 for image models) */
} genplug_geometry_query_t;

/** ABI 1.1 — the model's geometry for one image (or clip), written by genplug_model_t.geometry into a host-owned
 *  struct: everything a host needs to drive the model without knowing it. */
typedef struct genplug_geometry {
  /** Set by the host, which zero-fills the struct first: sizeof as it compiled it. The model writes only the
   *  fields that fit and sets struct_size to the number of bytes it wrote. */
  uint32_t struct_size;
  /** @name Size
   *  @{ */
  /** The size this geometry is for (the query's, or the defaults where the query said 0). */
  uint32_t height, width, frames;
  /** @} */
  /** @name Valid sizes
   *  @{ */
  /** Width and height must be multiples of this many pixels (FLUX: 16); frames of frame_multiple. */
  uint32_t size_multiple, frame_multiple;
  /** @} */
  /** @name Rotary layout
   *  The rotary layout (posenc.h) and the target extent per axis for this size.
   *  @{ */
  uint32_t axis_count;                     /**< <= GENPLUG_MAX_AXES */
  uint32_t axis_dims[GENPLUG_MAX_AXES];    /**< rotary dims per axis (even), as in genplug_rotary_layout_t */
  uint32_t axis_flags[GENPLUG_MAX_AXES];   /**< GENPLUG_AXIS_SPATIAL / _TEMPORAL; 0 = never rescaled */
  uint32_t base_extent[GENPLUG_MAX_AXES];  /**< tokens per axis at the training size */
  uint32_t target_extent[GENPLUG_MAX_AXES];/**< tokens per axis at this size */
  uint32_t pixels_per_token;               /**< image pixels per token along a spatial axis */
  double theta;                            /**< rotary base, as in genplug_rotary_layout_t */
  /** @} */
  /** @name Latent
   *  The latent noise() makes for this size: shape, dtype and device. (Fields are ordered so that the struct
   *  has no implicit padding: a ctypes or bindgen mirror needs none.)
   *  @{ */
  int32_t latent_ndim;                     /**< <= GENPLUG_MAX_AXES */
  DLDataType latent_dtype;                 /**< DLPack dtype */
  int64_t latent_shape[GENPLUG_MAX_AXES];  /**< latent_ndim values */
  DLDevice latent_device;                  /**< DLPack device */
  uint64_t image_tokens; /**< tokens of the image stream: what schedulers shift by (scheduler.h sigmas()) */
  /** @} */
  /** @name Defaults
   *  Defaults for a job that does not say.
   *  @{ */
  double default_guidance; /**< 0 for a model without distilled guidance */
  uint32_t default_steps;  /**< sampling steps */
  uint32_t reserved;       /**< 0; keeps the size a multiple of 8 without tail padding */
  /** @} */
  /** ABI 1.2. Estimated peak working memory, in bytes on latent_device, of one render at this size beyond what
   *  the created model already holds (its weights): latents and scheduler buffers, activations, the attention
   *  workspace, decode. 0 = no estimate. Hosts refuse a job that cannot fit before it starts (docs/reliability.md).
   *  A host reads it only when GENPLUG_HAS_FIELD(out, genplug_geometry_t, working_memory_bytes) after the call:
   *  a 1.1 model writes up to `reserved` and sets struct_size to that. */
  uint64_t working_memory_bytes;
} genplug_geometry_t;

/** Named borrowed tensors, e.g. conditioning handed back to predict(). */
typedef struct genplug_tensor_list {
  uint32_t struct_size;           /**< sizeof(genplug_tensor_list_t) as the host compiled it */
  uint32_t count;                 /**< number of tensors (and names) */
  const char* const* names;       /**< `count` names */
  const DLTensor* const* tensors; /**< `count` tensors, borrowed */
} genplug_tensor_list_t;

/** What predict() evaluates. Host-owned; every pointer is borrowed for the call. */
typedef struct genplug_predict_args {
  uint32_t struct_size;     /**< sizeof(genplug_predict_args_t) as the host compiled it */
  const DLTensor* latent;   /**< the noisy latent, as made by noise() */
  uint32_t height;          /**< image height in pixels; the latent's token grid follows from it */
  uint32_t width;           /**< image width in pixels */
  double sigma;             /**< flow-matching time of this evaluation, in [0, 1] */
  double guidance;          /**< distilled guidance strength (ignored by models without it) */
  const genplug_tensor_list_t* conditioning; /**< the tensors condition() produced; NULL = none */
  const genplug_spectrum_t* spectrum;  /**< rotary spectrum for this evaluation (posenc.h), read-only;
                                            NULL means the model's plain rotary encoding */
} genplug_predict_args_t;

/** A model instance, made by the factory of GENPLUG_KIND_MODEL. Plugin-owned; the host frees it with destroy(),
 *  exactly once. See the file comment for the tensor rules, the image convention and the threads. */
typedef struct genplug_model {
  uint32_t struct_size; /**< sizeof(genplug_model_t) as the plugin compiled it */
  void* impl;           /**< the plugin's own state; opaque to the host */

  /** Frees the instance (weights included). Tensors already handed out stay valid until their deleters run.
   * [thread: control] */
  void (*destroy)(struct genplug_model* self);

  /** The model's description as a JSON object (UTF-8, model-owned, made when the instance was created and
   * unchanged until destroy): information for people and tools ("preset", "dtype", "device", ...). Hosts
   * drive the model from geometry(), not from this text. Never NULL for a live instance (a NULL is a broken
   * plugin, reported as such). [thread: any] */
  const char* (*describe)(struct genplug_model* self);

  /** Encodes a prompt (UTF-8, borrowed for the call) into named conditioning tensors passed to `sink` (lent for
   * the call). `options_json` (a JSON object, borrowed for the call) may be NULL. The tensors stay on the model's
   * device, in its dtype. A tensor passed to the sink's put is the host's whatever this call then returns.
   * [thread: render] */
  genplug_status (*condition)(struct genplug_model* self, const char* prompt, const char* options_json,
                              const genplug_tensor_sink_t* sink, const genplug_context_t* ctx);

  /** The initial latent (pure noise) for an image of height x width pixels, reproducible from seed, in the
   * shape, dtype and device geometry() states, compact. [thread: render] */
  genplug_status (*noise)(struct genplug_model* self, uint64_t seed, uint32_t height, uint32_t width,
                          DLManagedTensor** out_latent, const genplug_context_t* ctx);

  /** The velocity for args->latent at args->sigma: same shape, dtype and device as the latent, compact
   * row-major, in memory of its own that the host may write (never the latent, a cached or pooled buffer the
   * model reuses, or anything else the model keeps), so a host can take it over as a scheduler's velocity
   * buffer without a copy. The latent is read in place (no copy when it is the model's own dtype and device).
   * [thread: render] */
  genplug_status (*predict)(struct genplug_model* self, const genplug_predict_args_t* args,
                            DLManagedTensor** out_velocity, const genplug_context_t* ctx);

  /** Decodes a latent of a height x width image into the image (convention above). [thread: render] */
  genplug_status (*decode)(struct genplug_model* self, const DLTensor* latent, uint32_t height,
                           uint32_t width, DLManagedTensor** out_image, const genplug_context_t* ctx);

  /** Encodes an image (convention above) into a latent, as noise() lays it out. [thread: render] */
  genplug_status (*encode)(struct genplug_model* self, const DLTensor* image, DLManagedTensor** out_latent,
                           const genplug_context_t* ctx);

  /** Optional interfaces by versioned id, or NULL when the instance has none of that id (a lookup that
   * cannot fail). The same id gives the same pointer; the table lives as long as the instance. [thread: any] */
  const void* (*get_extension)(struct genplug_model* self, const char* extension_id);

  /** ABI 1.1. The geometry for `query` into `out` (see genplug_geometry_t): a host derives the posenc
   * layout and target extent, the scheduler's token count, the latent and the defaults from it alone.
   * GENPLUG_E_INVALID_ARGUMENT (message naming the nearest valid sizes) for a size the model cannot make.
   * Pure: the same query gives the same answer. [thread: any] */
  genplug_status (*geometry)(struct genplug_model* self, const genplug_geometry_query_t* query,
                             genplug_geometry_t* out, const genplug_context_t* ctx);
} genplug_model_t;

/** Optional model extension (get_extension(GENPLUG_EXT_MODEL_TENSOR_OPS)): the arithmetic a scheduler needs,
 * done by the model on its own tensors (its device, its dtype), so latents never leave the device. A host
 * maps the scheduler's lent operations (scheduler.h) onto these. Model-owned, valid until destroy.
 * Every member is [thread: render] (it runs inside the host's sample loop, one call at a time per
 * instance). `out` tensors are written in place; every tensor has the latent's shape, dtype and device. */
#define GENPLUG_EXT_MODEL_TENSOR_OPS "org.genplug.model.tensor_ops/1"

/** The table of GENPLUG_EXT_MODEL_TENSOR_OPS: model-owned, valid until destroy; every member is
 *  [thread: render]. */
typedef struct genplug_model_tensor_ops {
  uint32_t struct_size; /**< sizeof(genplug_model_tensor_ops_t) as the plugin compiled it */
  /** out = sum over i < count of coeffs[i] * inputs[i]; `out` may be one of the inputs. Every tensor and the
   * `inputs` and `coeffs` arrays are the caller's, borrowed for the call. [thread: render] */
  genplug_status (*linear_combination)(struct genplug_model* model, const DLTensor* out, uint32_t count,
                                       const DLTensor* const* inputs, const double* coeffs,
                                       const genplug_context_t* ctx);
  /** A new compact tensor of `like`'s shape, dtype and device; contents unspecified. Owned by the caller.
   * [thread: render] */
  genplug_status (*empty_like)(struct genplug_model* model, const DLTensor* like, DLManagedTensor** out,
                               const genplug_context_t* ctx);
  /** Fills `out` with standard normal noise, reproducible from (seed, stream). [thread: render] */
  genplug_status (*normal)(struct genplug_model* model, const DLTensor* out, uint64_t seed, uint64_t stream,
                           const genplug_context_t* ctx);
} genplug_model_tensor_ops_t;

/** Optional model extension (get_extension(GENPLUG_EXT_MODEL_ADAPTERS)): weight adapters such as LoRAs,
 * swapped between jobs without reloading the base weights. The struct is model-owned, valid until destroy. */
#define GENPLUG_EXT_MODEL_ADAPTERS "org.genplug.model.adapters/1"

/** The table of GENPLUG_EXT_MODEL_ADAPTERS: model-owned, valid until destroy. */
typedef struct genplug_model_adapters {
  uint32_t struct_size; /**< sizeof(genplug_model_adapters_t) as the plugin compiled it */
  /** Makes `adapters_json` (UTF-8, borrowed for the call) the active adapters: a JSON array of
   * {"path": file, "scale": number} objects, "[]" for none, or "null" for those the model was created with.
   * The base weights are restored exactly when adapters are removed. On failure (GENPLUG_E_CONFIG for a bad
   * list or a file that does not fit the model, GENPLUG_E_IO for one that cannot be read, message in ctx) the
   * previous adapters stay active. [thread: control] */
  genplug_status (*set)(struct genplug_model* model, const char* adapters_json, const genplug_context_t* ctx);
} genplug_model_adapters_t;

/** Optional model extension (genplug 0.3, get_extension(GENPLUG_EXT_MODEL_ADAPTER_CHECK)): whether a list of
 * adapters would fit this model, told without applying it, so that a host can refuse a manifest's bad LoRA
 * before the first job renders rather than when the job that names it comes. The struct is model-owned, valid
 * until destroy. */
#define GENPLUG_EXT_MODEL_ADAPTER_CHECK "org.genplug.model.adapter_check/1"

/** The table of GENPLUG_EXT_MODEL_ADAPTER_CHECK: model-owned, valid until destroy. */
typedef struct genplug_model_adapter_check {
  uint32_t struct_size; /**< sizeof(genplug_model_adapter_check_t) as the plugin compiled it */
  /** Checks `adapters_json` (UTF-8, borrowed for the call; as genplug_model_adapters.set takes it) as set would,
   * from what the files say of themselves (formats, names, shapes: headers, not the values), and against what
   * the model could ever hold: GENPLUG_E_CONFIG for a list or file that does not fit, GENPLUG_E_IO for one that
   * cannot be read, message in ctx; GENPLUG_E_UNSUPPORTED where the model cannot tell (a host then goes on, and
   * set decides). GENPLUG_OK does not promise that set succeeds (the values are read then, and memory is what is
   * free then). Changes nothing: the active adapters stay. [thread: control] */
  genplug_status (*check)(struct genplug_model* model, const char* adapters_json, const genplug_context_t* ctx);
} genplug_model_adapter_check_t;

/** Optional model extension (get_extension(GENPLUG_EXT_MODEL_PREVIEW)): a quick, approximate picture of a
 * latent, for watching a long render (the host's `--preview-every`). Hosts without it decode in full and
 * shrink the image, which at 4096 x 4096 costs as much as the final decode. The struct is model-owned, valid
 * until destroy. */
#define GENPLUG_EXT_MODEL_PREVIEW "org.genplug.model.preview/1"

/** The table of GENPLUG_EXT_MODEL_PREVIEW: model-owned, valid until destroy. */
typedef struct genplug_model_preview {
  uint32_t struct_size; /**< sizeof(genplug_model_preview_t) as the plugin compiled it */
  /** Writes to `*image` a picture of `latent` (borrowed for the call; a latent of this model for an image of
   * height x width, as predict takes it) in decode's convention (CPU float32 [1, 3, h, w], values nominally in
   * [0, 1]), where h and w keep the aspect ratio within a pixel and neither exceeds `max_side` (>= 16). Owned by
   * the caller (call its deleter). It approximates decode(latent) shrunk to h x w and costs about a decode at
   * that size; how it approximates is the model's to document. [thread: render] */
  genplug_status (*preview)(struct genplug_model* model, const DLTensor* latent, uint32_t height, uint32_t width,
                            uint32_t max_side, DLManagedTensor** image, const genplug_context_t* ctx);
} genplug_model_preview_t;

GENPLUG_END_DECLS

#endif /* GENPLUG_MODEL_H */
