/* genplug — scheduler plugins ("genplug.scheduler/1").
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

/* A tensor owned by the host, opaque to the scheduler. */
typedef struct genplug_tensor_opaque* genplug_tensor_handle;

/* Tensor operations the host lends for one sample() call. Every tensor handed out by alloc_like must be
 * given back with release before sample() returns. [thread: the thread that called sample()] */
typedef struct genplug_tensor_ops {
  uint32_t struct_size;
  void* host_data; /* opaque to the plugin */

  /* out = sum over i < count of coeffs[i] * inputs[i]. All tensors have the same shape; `out` may be one of
   * the inputs. Arithmetic in the tensors' own precision with coefficients rounded to it. */
  genplug_status (*linear_combination)(const struct genplug_tensor_ops* ops, genplug_tensor_handle out,
                                       uint32_t count, const genplug_tensor_handle* inputs,
                                       const double* coeffs);

  /* A new tensor of the shape, dtype and device of `like`, contents unspecified. Released with release(). */
  genplug_status (*alloc_like)(const struct genplug_tensor_ops* ops, genplug_tensor_handle like,
                               genplug_tensor_handle* out);

  /* Gives back a tensor from alloc_like. */
  void (*release)(const struct genplug_tensor_ops* ops, genplug_tensor_handle tensor);

  /* Fills `out` with standard normal noise, reproducible from (seed, stream): the same pair gives the same
   * noise; different streams give independent noise. */
  genplug_status (*normal)(const struct genplug_tensor_ops* ops, genplug_tensor_handle out, uint64_t seed,
                           uint64_t stream);
} genplug_tensor_ops_t;

/* Evaluates the model: writes the velocity at (x, sigma) into `velocity_out` (same shape as x). `x` is
 * borrowed; the host must not keep it. Returns GENPLUG_E_CANCELLED when the host wants sampling stopped:
 * the scheduler then returns GENPLUG_E_CANCELLED at once. Host-owned; never NULL in a request. */
typedef genplug_status (*genplug_velocity_fn)(void* user, genplug_tensor_handle x, double sigma,
                                              genplug_tensor_handle velocity_out);

typedef struct genplug_sample_request {
  uint32_t struct_size;
  const double* sigmas;   /* the schedule, from sigmas(); borrowed */
  uint32_t sigma_count;   /* steps + 1; sigmas[sigma_count - 1] is the final sigma (0 for a full run) */
  genplug_tensor_handle latent; /* in: the latent at sigmas[0]; out: the latent at the final sigma */
  const genplug_tensor_ops_t* ops;
  genplug_velocity_fn velocity;
  void* velocity_user;    /* passed back to velocity() */
  uint64_t seed;          /* for stochastic samplers (ops->normal); ignored by deterministic ones */
} genplug_sample_request_t;

typedef struct genplug_scheduler {
  uint32_t struct_size;
  void* impl;

  /* Frees the instance; called exactly once. [thread: the host's control thread] */
  void (*destroy)(struct genplug_scheduler* self);

  /* Writes the sigma schedule for `steps` steps of an image of `image_tokens` tokens into `out` (host
   * buffer of `capacity` doubles): steps + 1 values that never increase, the last normally 0 (equal
   * neighbours are zero-length steps, as float32 schedules at very large shifts have). *out_count receives
   * the number written (or needed, with GENPLUG_E_BUFFER_TOO_SMALL). [thread: any] */
  genplug_status (*sigmas)(struct genplug_scheduler* self, uint32_t steps, uint64_t image_tokens,
                           double* out, uint32_t capacity, uint32_t* out_count,
                           const genplug_context_t* ctx);

  /* Number of model evaluations sample() makes for a schedule of `sigma_count` values, known before
   * sampling so the host can show progress. [thread: any] */
  uint64_t (*evaluation_count)(struct genplug_scheduler* self, uint32_t sigma_count);

  /* Runs the sampler over request->sigmas, advancing request->latent in place. Returns
   * GENPLUG_E_CANCELLED promptly when the velocity callback or ctx asks to stop; the latent is then
   * unspecified. [thread: the host's render thread, one call at a time per instance] */
  genplug_status (*sample)(struct genplug_scheduler* self, const genplug_sample_request_t* request,
                           const genplug_context_t* ctx);

  /* Optional interfaces by versioned id, or NULL. [thread: any] */
  const void* (*get_extension)(struct genplug_scheduler* self, const char* extension_id);
} genplug_scheduler_t;

GENPLUG_END_DECLS

#endif /* GENPLUG_SCHEDULER_H */
