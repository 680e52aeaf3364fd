/** @file
 * genplug — scheduler plugins ("genplug.scheduler/1").
 *
 * A scheduler owns the sigma schedule and the sampling algorithm. It links no tensor library: it moves
 * the latent only through the tensor operations the host lends it on opaque handles, and asks the host
 * for the model's velocity through a callback. Flow-matching convention: x_sigma = (1 - sigma) x0 +
 * sigma * noise, the model predicts v = noise - x0, sigma runs from ~1 (noise) down to 0 (image). */
#ifndef GENPLUG_SCHEDULER_H
#define GENPLUG_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "entry.h"
#include "status.h"

GENPLUG_BEGIN_DECLS

/** A tensor owned by the host, opaque to the scheduler. */
typedef struct genplug_tensor_opaque* genplug_tensor_handle;

/** Tensor operations the host lends for one sample() call. Every tensor handed out by alloc_like must be
 * given back with release before sample() returns. The host implements them where the latent lives: on
 * the model's device, through the model's own operations when it lends them (model.h), so a scheduler
 * never causes a copy. Every member is [thread: caller]: called only from the thread running sample(),
 * during it. */
typedef struct genplug_tensor_ops {
  uint32_t struct_size; /**< sizeof(genplug_tensor_ops_t) as the host compiled it */
  void* host_data; /**< opaque to the plugin */

  /** out = sum over i < count of coeffs[i] * inputs[i]. All tensors have the same shape; `out` may be one of
   * the inputs. The result is rounded to the tensors' dtype; intermediate precision is the provider's (at
   * least the dtype's), so the host's and a model's operations may differ in the last bit. The `inputs` and
   * `coeffs` arrays are the scheduler's, borrowed for the call. [thread: caller] */
  genplug_status (*linear_combination)(const struct genplug_tensor_ops* ops, genplug_tensor_handle out,
                                       uint32_t count, const genplug_tensor_handle* inputs,
                                       const double* coeffs);

  /** A new tensor of the shape, dtype and device of `like`, contents unspecified. Released with release().
   * [thread: caller] */
  genplug_status (*alloc_like)(const struct genplug_tensor_ops* ops, genplug_tensor_handle like,
                               genplug_tensor_handle* out);

  /** Gives back a tensor from alloc_like; a handle it did not lend is ignored. [thread: caller] */
  void (*release)(const struct genplug_tensor_ops* ops, genplug_tensor_handle tensor);

  /** Fills `out` with standard normal noise, reproducible from (seed, stream): the same pair gives the same
   * noise (for one host and model); different streams give independent noise. [thread: caller] */
  genplug_status (*normal)(const struct genplug_tensor_ops* ops, genplug_tensor_handle out, uint64_t seed,
                           uint64_t stream);
} genplug_tensor_ops_t;

/** Evaluates the model: writes the velocity at (x, sigma) into `velocity_out` (same shape as x; a handle
 * the scheduler got from alloc_like, whose memory the host may replace by the model's output instead of
 * copying into it). `x` is borrowed; the host must not keep it. Returns GENPLUG_E_CANCELLED when the host
 * wants sampling stopped: the scheduler then returns GENPLUG_E_CANCELLED at once; any other failure is
 * returned as well and the scheduler passes it on unchanged. Host-owned; never NULL in a request.
 * [thread: caller] */
typedef genplug_status (*genplug_velocity_fn)(void* user, genplug_tensor_handle x, double sigma,
                                              genplug_tensor_handle velocity_out);

/** What sample() runs: the schedule, the latent, and the operations and callback the host lends for the call.
 *  Host-owned, borrowed for the call. */
typedef struct genplug_sample_request {
  uint32_t struct_size;   /**< sizeof(genplug_sample_request_t) as the host compiled it */
  const double* sigmas;   /**< the schedule, from sigmas(); borrowed */
  uint32_t sigma_count;   /**< steps + 1; sigmas[sigma_count - 1] is the final sigma (0 for a full run) */
  genplug_tensor_handle latent; /**< in: the latent at sigmas[0]; out: the latent at the final sigma */
  const genplug_tensor_ops_t* ops; /**< the tensor operations the host lends for this call */
  genplug_velocity_fn velocity;    /**< the host's model evaluation; never NULL */
  void* velocity_user;    /**< passed back to velocity() */
  uint64_t seed;          /**< for stochastic samplers (ops->normal); ignored by deterministic ones */
} genplug_sample_request_t;

/** A scheduler instance, made by the factory of GENPLUG_KIND_SCHEDULER. Plugin-owned; the host frees it with
 *  destroy(), exactly once. */
typedef struct genplug_scheduler {
  uint32_t struct_size; /**< sizeof(genplug_scheduler_t) as the plugin compiled it */
  void* impl;           /**< the plugin's own state; opaque to the host */

  /** Frees the instance; called exactly once. [thread: control] */
  void (*destroy)(struct genplug_scheduler* self);

  /** Writes the sigma schedule for `steps` steps of an image of `image_tokens` tokens into `out` (host
   * buffer of `capacity` doubles): steps + 1 values in [0, 1] (the flow-matching time, model.h) that never
   * increase, the last normally 0 (equal neighbours are zero-length steps, as float32 schedules at very large
   * shifts have). For steps 0 the scheduler's own step count (its config's), where it has one: hosts take 2 to
   * 2^20 + 1 values then. Hosts refuse any other schedule. `*out_count` receives
   * the number written (or needed, with GENPLUG_E_BUFFER_TOO_SMALL). [thread: any] */
  genplug_status (*sigmas)(struct genplug_scheduler* self, uint32_t steps, uint64_t image_tokens,
                           double* out, uint32_t capacity, uint32_t* out_count,
                           const genplug_context_t* ctx);

  /** Number of model evaluations sample() makes for a schedule of `sigma_count` values, known before
   * sampling so the host can show progress. Cannot report failure: deprecated in ABI 1.1 for
   * count_evaluations(), which hosts use when present. [thread: any] */
  uint64_t (*evaluation_count)(struct genplug_scheduler* self, uint32_t sigma_count);

  /** Runs the sampler over request->sigmas, advancing request->latent in place. Returns
   * GENPLUG_E_CANCELLED promptly when the velocity callback or ctx asks to stop; the latent is then
   * unspecified. [thread: render] */
  genplug_status (*sample)(struct genplug_scheduler* self, const genplug_sample_request_t* request,
                           const genplug_context_t* ctx);

  /** Optional interfaces by versioned id, or NULL when the instance has none of that id (a lookup that
   * cannot fail). The same id gives the same pointer, which lives as long as the instance. [thread: any] */
  const void* (*get_extension)(struct genplug_scheduler* self, const char* extension_id);

  /** ABI 1.1. evaluation_count() that can fail: writes into `*out_count` the number of model evaluations
   * sample() makes for `sigma_count` sigmas, or returns GENPLUG_E_INVALID_ARGUMENT (message in ctx) for a
   * count it cannot sample (fewer than 2 sigmas). [thread: any] */
  genplug_status (*count_evaluations)(struct genplug_scheduler* self, uint32_t sigma_count,
                                      uint64_t* out_count, const genplug_context_t* ctx);
} genplug_scheduler_t;

GENPLUG_END_DECLS

#endif /* GENPLUG_SCHEDULER_H */
