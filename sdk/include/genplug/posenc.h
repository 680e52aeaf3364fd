/** @file
 * genplug — position-encoding plugins ("genplug.posenc/1").
 *
 * A posenc instance turns a model's rotary layout, the target extent and the diffusion time t into the
 * rotary frequency spectrum for one model evaluation. Numbers only: no tensors cross, no tensor library
 * is linked. The model builds its cos/sin tables from the spectrum:
 *
 * ~~~{.unparsed}
 *   for axis a, pair j < dims[a]/2, position p:  angle = p * freqs[offset(a) + j]
 *   cos_table = amplitude[a] * cos(angle),  sin_table = amplitude[a] * sin(angle)
 * ~~~
 *
 * where offset(a) = sum of dims[b]/2 for b < a. Plain RoPE is freqs = theta^(-2j/dims[a]), amplitude 1. */
#ifndef GENPLUG_POSENC_H
#define GENPLUG_POSENC_H

#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "entry.h"
#include "status.h"

GENPLUG_BEGIN_DECLS

/** @name Axis flags
 *  Per-axis flags of a rotary layout (genplug_rotary_layout_t.axis_flags).
 *  @{ */
#define GENPLUG_AXIS_SPATIAL 1u  /**< a spatial axis (rows, cols, ...): a posenc may rescale it */
#define GENPLUG_AXIS_TEMPORAL 2u /**< a time axis (video frames); rescaled only by posencs that say so */
/** @} */

/** The model's rotary position encoding, as its model plugin states it (model.h: geometry()). An axis with
 * neither flag (an index axis such as FLUX's axis 0) is never rescaled. Every array has axis_count values. */
typedef struct genplug_rotary_layout {
  uint32_t struct_size;        /**< sizeof(genplug_rotary_layout_t) as the host compiled it */
  uint32_t axis_count;         /**< FLUX: 3 (index, rows, cols); a video model: 3 (time, rows, cols) */
  const uint32_t* axis_dims;   /**< even numbers; FLUX: 16, 56, 56 (sum = head dim) */
  double theta;                /**< rotary base; FLUX: 10000 */
  const uint32_t* base_extent; /**< tokens per axis the model was trained at; FLUX: 1, 64, 64 */
  uint32_t pixels_per_token;   /**< image pixels per token along a spatial axis; FLUX: 16 */
  /** ABI 1.1: GENPLUG_AXIS_* bits per axis. Absent (a 1.0 host) or NULL: every axis but axis 0 is spatial,
   * as ABI 1.0 assumed. */
  const uint32_t* axis_flags;
} genplug_rotary_layout_t;

/** What one spectrum is wanted for. All pointers borrowed for the call. */
typedef struct genplug_posenc_query {
  uint32_t struct_size;                  /**< sizeof(genplug_posenc_query_t) as the host compiled it */
  const genplug_rotary_layout_t* layout; /**< the model's rotary layout (from its geometry()) */
  const uint32_t* target_extent; /**< axis_count values: tokens per axis of the image being made, as the
                                      model's geometry() states it for that image */
  double t;                      /**< diffusion time in [0, 1]: 1 = pure noise, 0 = clean; the flow-matching
                                      sigma of the step being evaluated */
} genplug_posenc_query_t;

/** The result, written by the plugin into host-owned buffers. */
typedef struct genplug_spectrum {
  uint32_t struct_size; /**< sizeof(genplug_spectrum_t) as the host compiled it */
  double* freqs;        /**< host buffer of freq_capacity doubles; the plugin writes sum(axis_dims/2) values,
                             axis after axis */
  uint32_t freq_capacity; /**< length of `freqs` in doubles */
  double* amplitude;    /**< host buffer of amplitude_capacity doubles; the plugin writes one factor per axis
                             (1 = none). Every value is written: the host refuses a spectrum with one left */
  uint32_t amplitude_capacity; /**< length of `amplitude` in doubles */
  uint32_t reserved; /**< 0; what was tail padding on 64-bit targets, named so that a field appended later lies
                          past the end of every 1.x struct (GENPLUG_HAS_FIELD can tell it is absent) */
} genplug_spectrum_t;

/** A position-encoding instance, made by the factory of GENPLUG_KIND_POSENC. Plugin-owned; the host frees it
 *  with destroy(), exactly once. */
typedef struct genplug_posenc {
  uint32_t struct_size; /**< sizeof(genplug_posenc_t) as the plugin compiled it */
  void* impl; /**< the plugin's own state; opaque to the host */

  /** Frees the instance. The host calls it exactly once; the pointer is invalid afterwards.
   * [thread: control] */
  void (*destroy)(struct genplug_posenc* self);

  /** Computes the spectrum for `query` into `out`. Returns GENPLUG_E_BUFFER_TOO_SMALL (with a message
   * naming the needed size) when a buffer is short, GENPLUG_E_INVALID_ARGUMENT for an odd axis dim, a
   * zero extent, t outside [0, 1], or a size the instance's config cannot compute (a value its config took
   * that overflows there). Pure: the same query gives the same spectrum. Must be cheap: it runs before every
   * model evaluation. [thread: render] */
  genplug_status (*compute)(struct genplug_posenc* self, const genplug_posenc_query_t* query,
                            genplug_spectrum_t* out, const genplug_context_t* ctx);

  /** Optional interfaces by versioned id, or NULL when the instance has none of that id (not an error: a
   * lookup that cannot fail). The same id gives the same pointer, which lives as long as the instance.
   * [thread: any] */
  const void* (*get_extension)(struct genplug_posenc* self, const char* extension_id);
} genplug_posenc_t;

GENPLUG_END_DECLS

#endif /* GENPLUG_POSENC_H */
