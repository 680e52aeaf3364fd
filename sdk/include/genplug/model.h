/* genplug — model plugins ("genplug.model/1").
 *
 * A model plugin owns the networks (text encoders, denoiser, autoencoder) and exchanges tensors with the
 * host as DLPack. Rules:
 *  - Inputs are `const DLTensor*`, borrowed for the duration of the call; the plugin copies what it keeps.
 *  - Outputs are `DLManagedTensor*` whose ownership passes to the host, which calls `deleter` exactly once
 *    (from any thread). The deleter runs plugin code: the host keeps the library loaded until every
 *    tensor it received from it has been deleted.
 *  - Producers always fill `strides`. Shapes are the model's own; the host treats latents as opaque apart
 *    from element-wise arithmetic (scheduler.h).
 *
 * Image convention (decode output, encode input): float32, [batch, 3, height, width], channels R, G, B,
 * sRGB-encoded (display-referred) with nominal range [0, 1] (values may overshoot slightly). */
#ifndef GENPLUG_MODEL_H
#define GENPLUG_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <dlpack/dlpack.h>

#include "context.h"
#include "entry.h"
#include "posenc.h"
#include "status.h"

GENPLUG_BEGIN_DECLS

/* Receives named output tensors (conditioning). Host-owned, lent for one call.
 * put() takes ownership of `tensor` even when it fails; `name` is copied. */
typedef struct genplug_tensor_sink {
  uint32_t struct_size;
  void* host_data;
  genplug_status (*put)(const struct genplug_tensor_sink* sink, const char* name, DLManagedTensor* tensor);
} genplug_tensor_sink_t;

/* Named borrowed tensors, e.g. conditioning handed back to predict(). */
typedef struct genplug_tensor_list {
  uint32_t struct_size;
  uint32_t count;
  const char* const* names;
  const DLTensor* const* tensors;
} genplug_tensor_list_t;

typedef struct genplug_predict_args {
  uint32_t struct_size;
  const DLTensor* latent;   /* the noisy latent, as made by noise() */
  uint32_t height;          /* image height in pixels; the latent's token grid follows from it */
  uint32_t width;           /* image width in pixels */
  double sigma;             /* flow-matching time of this evaluation, in [0, 1] */
  double guidance;          /* distilled guidance strength (ignored by models without it) */
  const genplug_tensor_list_t* conditioning; /* the tensors condition() produced; NULL = none */
  const genplug_spectrum_t* spectrum;  /* rotary spectrum for this evaluation (posenc.h), read-only;
                                          NULL means the model's plain rotary encoding */
} genplug_predict_args_t;

typedef struct genplug_model {
  uint32_t struct_size;
  void* impl;

  /* Frees the instance (weights included). Tensors already handed out stay valid until their deleters run.
   * [thread: the host's control thread] */
  void (*destroy)(struct genplug_model* self);

  /* The model's description as a JSON object (UTF-8, model-owned, valid until destroy). Keys:
   *   "latent_channels", "patch_size", "vae_downscale", "pixels_per_token",
   *   "rotary": {"axes_dim": [..], "theta": x, "base_extent": [..]},
   *   "conditioning": [names condition() produces], "defaults": {"steps", "guidance", "width", "height"}.
   * [thread: any] */
  const char* (*describe)(struct genplug_model* self);

  /* Encodes a prompt (UTF-8, borrowed) into named conditioning tensors passed to `sink`.
   * `options_json` may be NULL. [thread: render] */
  genplug_status (*condition)(struct genplug_model* self, const char* prompt, const char* options_json,
                              const genplug_tensor_sink_t* sink, const genplug_context_t* ctx);

  /* The initial latent (pure noise) for an image of height x width pixels, reproducible from seed.
   * [thread: render] */
  genplug_status (*noise)(struct genplug_model* self, uint64_t seed, uint32_t height, uint32_t width,
                          DLManagedTensor** out_latent, const genplug_context_t* ctx);

  /* The velocity for args->latent at args->sigma, same shape and dtype as the latent. [thread: render] */
  genplug_status (*predict)(struct genplug_model* self, const genplug_predict_args_t* args,
                            DLManagedTensor** out_velocity, const genplug_context_t* ctx);

  /* Decodes a latent of a height x width image into the image (convention above). [thread: render] */
  genplug_status (*decode)(struct genplug_model* self, const DLTensor* latent, uint32_t height,
                           uint32_t width, DLManagedTensor** out_image, const genplug_context_t* ctx);

  /* Encodes an image (convention above) into a latent, as noise() lays it out. [thread: render] */
  genplug_status (*encode)(struct genplug_model* self, const DLTensor* image, DLManagedTensor** out_latent,
                           const genplug_context_t* ctx);

  /* Optional interfaces by versioned id, or NULL. [thread: any] */
  const void* (*get_extension)(struct genplug_model* self, const char* extension_id);
} genplug_model_t;

/* Optional model extension (get_extension(GENPLUG_EXT_MODEL_ADAPTERS)): weight adapters such as LoRAs,
 * swapped between jobs without reloading the base weights. The struct is model-owned, valid until destroy. */
#define GENPLUG_EXT_MODEL_ADAPTERS "org.genplug.model.adapters/1"

typedef struct genplug_model_adapters {
  uint32_t struct_size;
  /* Makes `adapters_json` (UTF-8, borrowed for the call) the active adapters: a JSON array of
   * {"path": file, "scale": number} objects, "[]" for none, or "null" for those the model was created with.
   * The base weights are restored exactly when adapters are removed. On failure (GENPLUG_E_CONFIG for a bad
   * list, GENPLUG_E_IO for an unreadable or unfitting file, message in ctx) the previous adapters stay
   * active. [thread: the host's control thread; never while another call of this model runs] */
  genplug_status (*set)(struct genplug_model* model, const char* adapters_json, const genplug_context_t* ctx);
} genplug_model_adapters_t;

GENPLUG_END_DECLS

#endif /* GENPLUG_MODEL_H */
