/* A whole genplug host in C11: load a model, a scheduler and a posenc plugin, ask the model for its geometry,
 * condition on a prompt, draw noise, let the scheduler sample with tensor operations this host lends, with a
 * fresh rotary spectrum from the posenc before every model evaluation, decode, and write a binary PPM.
 * docs/abi.md ("Writing a host") walks through it. This host does its arithmetic on CPU float32 latents; a
 * model that keeps them elsewhere lends its own operations (GENPLUG_EXT_MODEL_TENSOR_OPS), not shown here.
 *
 *   c_render MODEL_LIB MODEL_ID MODEL_CONFIG SCHEDULER_LIB POSENC_LIB OUT.ppm [PROMPT]
 *
 * The scheduler and posenc are the first plugin of their library (flowmatch Euler, DyPE's default).
 * Exit status 0 on success, 1 when a library or a plugin call fails or a plugin breaks the ABI's contract (a NULL
 * function, a spectrum, schedule, sigma or image that is not what the headers promise), 2 for bad arguments. */
#define _XOPEN_SOURCE 700 /* realpath, under -std=c11 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <genplug/genplug.h>

/* ---- 1. Loading: dlopen, the entry, init; errors land in one buffer through the context ---------- */

static char last_error[1024];

/* The host copies the message at once: the plugin may pass a stack buffer. */
static void on_error(const genplug_context_t* ctx, genplug_status code, const char* message) {
  (void)ctx, (void)code; /* the failing call returns the code too */
  snprintf(last_error, sizeof last_error, "%s", message ? message : "");
}

/* Whether a call failed; if so, says why. A plugin may fail without a message: that is said too
 * (docs/abi.md, "Errors"). The message is cleared after every call checked here, so that it can never be
 * shown for a later call that failed silently. */
static int failed(genplug_status status, const char* who, const char* call) {
  if (status != GENPLUG_OK)
    fprintf(stderr, "%s: %s failed: %s (status %d)\n", who, call,
            last_error[0] ? last_error : "(the plugin gave no message)", (int)status);
  last_error[0] = '\0';
  return status != GENPLUG_OK;
}
static genplug_context_t context(void) {
  genplug_context_t c;
  memset(&c, 0, sizeof c);
  c.struct_size = sizeof c;
  c.set_error = on_error;
  return c;
}

typedef struct library {
  const char* path;
  void* handle;
  const genplug_entry_t* entry; /* set once init succeeded: deinit is then due (never after a failed init) */
} library_t;

/* A tensor the host received: its deleter runs once (model.h: producers set it; NULL would be nothing to free). */
static void free_tensor(DLManagedTensor* t) {
  if (t && t->deleter) t->deleter(t);
}

/* init gets the library's absolute path (entry.h): a plugin finds its files beside it. */
static int load(const char* path, library_t* lib, const genplug_context_t* ctx) {
  char* absolute = realpath(path, NULL);
  const genplug_entry_t* entry;
  lib->path = path;
  if (!absolute) return fprintf(stderr, "cannot load %s: %s\n", path, strerror(errno)), 1;
  lib->handle = dlopen(absolute, RTLD_NOW | RTLD_LOCAL);
  entry = lib->handle ? (const genplug_entry_t*)dlsym(lib->handle, GENPLUG_ENTRY_SYMBOL) : NULL;
  if (!lib->handle)
    fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
  else if (!GENPLUG_HAS_FIELD(entry, genplug_entry_t, abi_major) || entry->abi_major != GENPLUG_ABI_MAJOR)
    fprintf(stderr, "%s: no genplug entry of ABI major %d\n", path, GENPLUG_ABI_MAJOR);
  else if (!GENPLUG_HAS_FIELD(entry, genplug_entry_t, get_factory) || !entry->init || !entry->deinit ||
           !entry->get_factory) /* every table is called through only where its struct_size reaches, never at NULL */
    fprintf(stderr, "%s: its genplug entry is too small or has a NULL init, deinit or get_factory\n", path);
  else if (!failed(entry->init(absolute, ctx), path, "init"))
    lib->entry = entry;
  free(absolute);
  return lib->entry == NULL;
}

/* Undoes load(), as far as it went. */
static void unload(const library_t* lib) {
  if (lib->entry) lib->entry->deinit();
  if (lib->handle) dlclose(lib->handle);
}

/* The instance of plugin `id` (NULL: the first the library lists) of a kind, made from `config`; NULL, said
 * why, when there is none. A broken library may list a NULL or short descriptor, or say OK and give no
 * instance: both are refused here rather than crashed on. */
static void* create(const library_t* lib, const char* kind, const char* id, const char* config,
                    const genplug_context_t* ctx) {
  const genplug_factory_t* f = lib->entry->get_factory(kind);
  const genplug_descriptor_t* first;
  void* instance = NULL;
  if (f && !(GENPLUG_HAS_FIELD(f, genplug_factory_t, create) && f->count && f->descriptor && f->create))
    return fprintf(stderr, "%s: its %s factory is too small or has a NULL function\n", lib->path, kind), NULL;
  first = f && f->count(f) > 0 ? f->descriptor(f, 0) : NULL;
  if (!id) id = GENPLUG_HAS_FIELD(first, genplug_descriptor_t, id) ? first->id : NULL;
  if (!f || !id) return fprintf(stderr, "%s: no %s plugin in the library\n", lib->path, kind), NULL;
  if (failed(f->create(f, id, config, ctx, &instance), id, "create")) return NULL;
  if (!instance) fprintf(stderr, "%s: create succeeded but returned no instance\n", id);
  return instance;
}

/* An instance is called through only when its struct_size reaches the functions this host calls, none NULL. */
static int incomplete(int complete, const char* who, const char* needs) {
  if (!complete) fprintf(stderr, "%s: its instance is too small or has a NULL %s\n", who, needs);
  return !complete;
}

/* Frees an instance through its destroy(), where it has one (an incomplete instance may not). */
#define DESTROY(type, p)                                                      \
  do {                                                                        \
    if (GENPLUG_HAS_FIELD(p, type, destroy) && (p)->destroy) (p)->destroy(p); \
  } while (0)

/* A tensor a plugin handed over is read only once it is what this host reads: CPU float32 values, compact,
 * of the expected shape. A plugin that says OK with no tensor, or another one, is refused, not trusted. */
static int readable(const DLManagedTensor* m, int32_t ndim, const int64_t* shape) {
  const DLTensor* t = m ? &m->dl_tensor : NULL;
  int64_t compact = 1; /* the stride of dimension i in compact row-major order */
  int32_t i;
  if (!t || !t->data || !t->shape || t->device.device_type != kDLCPU || t->dtype.code != kDLFloat ||
      t->dtype.bits != 32 || t->dtype.lanes != 1 || t->ndim != ndim)
    return 0;
  for (i = ndim - 1; i >= 0; --i) {
    if (t->shape[i] != shape[i]) return 0;
    if (t->strides && shape[i] > 1 && t->strides[i] != compact) return 0; /* NULL strides: compact (DLPack) */
    compact *= shape[i];
  }
  return 1;
}

/* The first value of a tensor: DLPack counts byte_offset from data. */
static float* values(const DLTensor* t) {
  return (float*)((char*)t->data + t->byte_offset);
}

/* The index of the first NaN or infinity among n values, or n when there is none. A NaN in a velocity stays in the
 * latent through every later step, and one in an image has no colour: both are refused, never drawn as black. */
static size_t first_non_finite(const float* p, size_t n) {
  size_t i = 0;
  while (i < n && isfinite(p[i])) ++i;
  return i;
}

/* ---- 2. The tensor operations lent to the scheduler: handles over float arrays ------------------- */

typedef struct tensor {
  float* data;
  size_t count;
  int lent; /* allocated by alloc_like: the scheduler releases it */
} tensor_t;

static genplug_status op_lincomb(const genplug_tensor_ops_t* ops, genplug_tensor_handle out, uint32_t n,
                                 const genplug_tensor_handle* in, const double* c) {
  tensor_t* o = (tensor_t*)out;
  size_t i;
  uint32_t k;
  (void)ops;
  for (i = 0; i < o->count; ++i) { /* element by element: out may alias an input */
    float acc = 0.0f;
    for (k = 0; k < n; ++k) {
      const float term = (float)c[k] * ((tensor_t*)in[k])->data[i];
      acc = k ? acc + term : term;
    }
    o->data[i] = acc;
  }
  return GENPLUG_OK;
}
static genplug_status op_alloc(const genplug_tensor_ops_t* ops, genplug_tensor_handle like,
                               genplug_tensor_handle* out) {
  tensor_t* t = malloc(sizeof *t);
  (void)ops;
  if (!t) return GENPLUG_E_OUT_OF_MEMORY;
  t->count = ((tensor_t*)like)->count;
  t->data = calloc(t->count, sizeof(float));
  t->lent = 1;
  if (!t->data) return free(t), GENPLUG_E_OUT_OF_MEMORY;
  *out = (genplug_tensor_handle)t;
  return GENPLUG_OK;
}
static void op_release(const genplug_tensor_ops_t* ops, genplug_tensor_handle h) {
  tensor_t* t = (tensor_t*)h;
  (void)ops;
  if (t && t->lent) free(t->data), free(t);
}
static genplug_status op_normal(const genplug_tensor_ops_t* ops, genplug_tensor_handle out, uint64_t seed,
                                uint64_t stream) {
  (void)ops, (void)out, (void)seed, (void)stream;
  return GENPLUG_E_UNSUPPORTED; /* only stochastic samplers need it; Euler does not */
}

/* ---- 3. The velocity callback: posenc spectrum, then the model's prediction ------------------------ */

/* The spectrum is checked before the model sees it, as the reference host checks it (host.hpp): each buffer has
 * GUARD slots past the capacity the plugin is told, and every slot starts as a quiet NaN with a payload no
 * arithmetic makes. A value still holding it was not written; a guard slot that lost it was written past the
 * end; NaN and inf are no frequency. */
#define MAX_FREQS 512
#define GUARD 4

static double marker(void) {
  const uint64_t bits = UINT64_C(0x7ffa6e6f6e650000);
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}
static int is_marker(double d) {
  const double m = marker();
  return memcmp(&d, &m, sizeof d) == 0;
}
static void fill_marker(double* buffer, uint32_t count) {
  uint32_t i;
  for (i = 0; i < count + GUARD; ++i) buffer[i] = marker();
}

/* Whether `count` values of `what` that `who` wrote (GUARD slots after them) are unfit to use; if so, says why. */
static int bad_values(const double* buffer, uint32_t count, const char* who, const char* what) {
  uint32_t i;
  for (i = 0; i < count + GUARD; ++i) {
    const char* problem = i >= count ? (is_marker(buffer[i]) ? NULL : "past the capacity it was given, yet written")
                          : is_marker(buffer[i]) ? "left unwritten"
                          : isnan(buffer[i])     ? "NaN"
                          : !isfinite(buffer[i]) ? "infinite"
                                                 : NULL;
    if (problem) {
      fprintf(stderr, "%s: compute returned success, but %s %u is %s (posenc.h: a posenc writes all %u, finite, "
              "and nothing past them)\n", who, what, (unsigned)i, problem, (unsigned)count);
      return 1;
    }
  }
  return 0;
}

typedef struct render {
  genplug_model_t* model;
  genplug_posenc_t* posenc;
  genplug_geometry_t geometry;
  uint32_t freq_count; /* sum of axis_dims / 2: the frequencies a spectrum holds */
  genplug_tensor_list_t conditioning;
  const genplug_context_t* ctx;
  const char *model_name, *posenc_name, *scheduler_name; /* for messages */
  DLTensor latent_view;   /* the latent's shape and dtype, with data swapped in per call */
  uint32_t evaluations;   /* velocities made: a scheduler that asked for none has left the latent pure noise */
  genplug_status failure; /* the first failed evaluation: the job fails even if the scheduler went on */
} render_t;

static genplug_status evaluation_failed(render_t* r, genplug_status s) {
  if (r->failure == GENPLUG_OK) r->failure = s;
  return s;
}

static genplug_status velocity(void* user, genplug_tensor_handle x, double sigma, genplug_tensor_handle v_out) {
  render_t* r = user;
  const genplug_geometry_t* g = &r->geometry;
  double freqs[MAX_FREQS + GUARD], amplitude[GENPLUG_MAX_AXES + GUARD];
  genplug_rotary_layout_t layout = {sizeof layout, g->axis_count, g->axis_dims, g->theta, g->base_extent,
                                    g->pixels_per_token, g->axis_flags};
  genplug_posenc_query_t query = {sizeof query, &layout, g->target_extent, sigma};
  /* The capacity told is exactly what the layout needs: the guard slots after it are not the plugin's. */
  genplug_spectrum_t spectrum = {sizeof spectrum, freqs, r->freq_count, amplitude, g->axis_count, 0};
  genplug_predict_args_t args;
  DLManagedTensor* v = NULL;
  const size_t count = ((tensor_t*)v_out)->count;
  size_t bad;
  genplug_status s;
  /* Failures are said here: the scheduler may report its own message for the failed callback over them. */
  if (!(sigma >= 0.0 && sigma <= 1.0)) { /* NaN fails too; neither posenc nor model is asked outside [0, 1] */
    fprintf(stderr, "%s: sample asked for a velocity at sigma %g, outside [0, 1] (scheduler.h)\n", r->scheduler_name,
            sigma);
    return evaluation_failed(r, GENPLUG_E_INVALID_ARGUMENT);
  }
  fill_marker(freqs, r->freq_count);
  fill_marker(amplitude, g->axis_count);
  s = r->posenc->compute(r->posenc, &query, &spectrum, r->ctx);
  if (failed(s, r->posenc_name, "compute")) return evaluation_failed(r, s);
  if (bad_values(freqs, r->freq_count, r->posenc_name, "frequency") ||
      bad_values(amplitude, g->axis_count, r->posenc_name, "amplitude"))
    return evaluation_failed(r, GENPLUG_E_INTERNAL);
  r->latent_view.data = ((tensor_t*)x)->data;
  memset(&args, 0, sizeof args);
  args.struct_size = sizeof args;
  args.latent = &r->latent_view;
  args.height = g->height;
  args.width = g->width;
  args.sigma = sigma;
  args.guidance = g->default_guidance;
  args.conditioning = &r->conditioning;
  args.spectrum = &spectrum;
  s = r->model->predict(r->model, &args, &v, r->ctx);
  if (failed(s, r->model_name, "predict")) return evaluation_failed(r, s);
  if (!readable(v, r->latent_view.ndim, r->latent_view.shape)) {
    fprintf(stderr, "%s: predict() made no velocity of the latent's shape, dtype and device\n", r->model_name);
    free_tensor(v);
    return evaluation_failed(r, GENPLUG_E_INTERNAL);
  }
  bad = first_non_finite(values(&v->dl_tensor), count);
  if (bad < count) {
    fprintf(stderr, "%s: predict() made a velocity with a NaN or infinity (value %zu of %zu) at sigma %g\n",
            r->model_name, bad, count, sigma);
    free_tensor(v);
    return evaluation_failed(r, GENPLUG_E_INTERNAL);
  }
  memcpy(((tensor_t*)v_out)->data, values(&v->dl_tensor), count * sizeof(float));
  free_tensor(v); /* a host may instead adopt v as v_out's memory: no copy (the reference host does) */
  ++r->evaluations;
  return GENPLUG_OK;
}

/* ---- 4. Conditioning arrives through a sink: up to 8 named tensors kept until the end ------------- */

#define MAX_TENSORS 8
#define MAX_NAME 63

typedef struct collected {
  const char* names[MAX_TENSORS];
  char storage[MAX_TENSORS][MAX_NAME + 1];
  const DLTensor* tensors[MAX_TENSORS];
  DLManagedTensor* owned[MAX_TENSORS];
  uint32_t count;
  const char* who; /* the model, for messages */
  int refused;     /* a tensor was refused: the job fails even if condition() went on and said OK */
} collected_t;

/* put() owns t even when it fails: it is freed here. The limits are this host's, and said as such. */
static genplug_status refuse_tensor(collected_t* c, DLManagedTensor* t, genplug_status code, const char* why) {
  fprintf(stderr, "%s: condition: a tensor was refused: %s\n", c->who, why);
  free_tensor(t);
  c->refused = 1;
  return code;
}

static genplug_status put(const genplug_tensor_sink_t* sink, const char* name, DLManagedTensor* t) {
  collected_t* c = sink->host_data;
  if (!t || !name) return refuse_tensor(c, t, GENPLUG_E_INVALID_ARGUMENT, "no tensor or no name");
  if (c->count == MAX_TENSORS)
    return refuse_tensor(c, t, GENPLUG_E_UNSUPPORTED, "this host keeps at most 8 conditioning tensors");
  if (strlen(name) > MAX_NAME) /* cut short, it would reach predict() as another name */
    return refuse_tensor(c, t, GENPLUG_E_UNSUPPORTED, "its name is longer than the 63 characters this host keeps");
  memcpy(c->storage[c->count], name, strlen(name) + 1);
  c->names[c->count] = c->storage[c->count];
  c->owned[c->count] = t;
  c->tensors[c->count] = &t->dl_tensor;
  ++c->count;
  return GENPLUG_OK;
}

/* ---- 5. The image: CPU float32 [1, 3, H, W], sRGB in [0, 1] (model.h) -> 8-bit PPM ---------------- */

static int write_ppm(const char* path, const DLTensor* image) {
  const int64_t h = image->shape[2], w = image->shape[3];
  const float* p = values(image);
  int64_t y, x, c;
  FILE* f = fopen(path, "wb");
  if (!f) return fprintf(stderr, "cannot write %s\n", path), 1;
  fprintf(f, "P6\n%lld %lld\n255\n", (long long)w, (long long)h);
  for (y = 0; y < h; ++y)
    for (x = 0; x < w; ++x)
      for (c = 0; c < 3; ++c) {
        const float v = p[(c * h + y) * w + x]; /* finite (checked before), but may overshoot [0, 1] slightly */
        fputc((int)(255.0f * (v > 0 ? (v < 1 ? v : 1) : 0) + 0.5f), f);
      }
  if (fclose(f) == 0) return 0; /* a full disk shows here, when the buffered bytes are written */
  remove(path);                 /* no partial image left behind */
  return fprintf(stderr, "cannot write %s\n", path), 1;
}

/* ---- 6. The host: what it made, each step in the order of docs/abi.md, one clean-up for them all - */

/* Everything that clean_up() undoes lives here, so that every step can fail by returning 1 and leave it due. */
typedef struct host {
  library_t model_lib, scheduler_lib, posenc_lib;
  genplug_context_t ctx;
  render_t r;
  collected_t cond;
  genplug_scheduler_t* scheduler;
  DLManagedTensor *latent, *image;
  double sigmas[1024];
  uint32_t n_sigmas;
} host_t;

/* Loads the three libraries and makes one instance of each; the scheduler and posenc are their library's first. */
static int set_up(host_t* h, char** argv) {
  if (load(argv[1], &h->model_lib, &h->ctx) || load(argv[4], &h->scheduler_lib, &h->ctx) ||
      load(argv[5], &h->posenc_lib, &h->ctx))
    return 1;
  h->r.model = create(&h->model_lib, GENPLUG_KIND_MODEL, argv[2], argv[3], &h->ctx);
  h->scheduler = create(&h->scheduler_lib, GENPLUG_KIND_SCHEDULER, NULL, "{\"sampler\": \"euler\"}", &h->ctx);
  h->r.posenc = create(&h->posenc_lib, GENPLUG_KIND_POSENC, NULL, "{}", &h->ctx);
  if (!h->r.model || !h->scheduler || !h->r.posenc) return 1;
  return incomplete(GENPLUG_HAS_FIELD(h->r.model, genplug_model_t, decode) && h->r.model->destroy &&
                        h->r.model->condition && h->r.model->noise && h->r.model->predict && h->r.model->decode,
                    argv[2], "destroy, condition, noise, predict or decode") ||
         incomplete(GENPLUG_HAS_FIELD(h->scheduler, genplug_scheduler_t, sample) && h->scheduler->destroy &&
                        h->scheduler->sigmas && h->scheduler->sample,
                    argv[4], "destroy, sigmas or sample") ||
         incomplete(GENPLUG_HAS_FIELD(h->r.posenc, genplug_posenc_t, compute) && h->r.posenc->destroy &&
                        h->r.posenc->compute,
                    argv[5], "destroy or compute");
}

/* The model says everything about its geometry: size, rotary layout, target extent, latent, defaults. */
static int ask_geometry(host_t* h) {
  genplug_geometry_query_t defaults = {sizeof defaults, 0, 0, 0};
  genplug_geometry_t* g = &h->r.geometry;
  uint64_t freqs = 0;
  uint32_t a;
  g->struct_size = sizeof *g;
  if (!GENPLUG_HAS_FIELD(h->r.model, genplug_model_t, geometry)) { /* an ABI 1.0 model */
    fprintf(stderr, "the model states no geometry (ABI 1.0): rebuild it against 1.1\n");
    return 1;
  }
  if (!h->r.model->geometry) { /* a 1.1 struct without its 1.1 function: a broken plugin */
    fprintf(stderr, "%s: geometry is NULL in a struct that holds it: a broken plugin\n", h->r.model_name);
    return 1;
  }
  if (failed(h->r.model->geometry(h->r.model, &defaults, g, &h->ctx), h->r.model_name, "geometry")) return 1;
  /* It sets struct_size to what it wrote; counts beyond the arrays would send posenc and this host past them. */
  if (!GENPLUG_HAS_FIELD(g, genplug_geometry_t, default_steps) || g->axis_count > GENPLUG_MAX_AXES ||
      g->latent_ndim < 1 || g->latent_ndim > GENPLUG_MAX_AXES) {
    fprintf(stderr, "%s: geometry() wrote an incomplete or impossible geometry\n", h->r.model_name);
    return 1;
  }
  /* This host's arithmetic (and the velocity memcpy) is for CPU float32 latents only. */
  if (g->latent_device.device_type != kDLCPU || g->latent_dtype.code != kDLFloat || g->latent_dtype.bits != 32) {
    fprintf(stderr, "this host samples CPU float32 latents only\n");
    return 1;
  }
  for (a = 0; a < g->axis_count; ++a) freqs += g->axis_dims[a] / 2;
  if (freqs > MAX_FREQS) {
    fprintf(stderr, "%s: geometry() states %llu rotary frequencies; this host has room for %d\n", h->r.model_name,
            (unsigned long long)freqs, MAX_FREQS);
    return 1;
  }
  h->r.freq_count = (uint32_t)freqs;
  return 0;
}

/* The conditioning lands in h->cond through the sink; the latent must be what geometry() stated. */
static int condition_and_noise(host_t* h, const char* prompt) {
  genplug_tensor_sink_t sink = {sizeof sink, &h->cond, put};
  const genplug_geometry_t* g = &h->r.geometry;
  h->cond.who = h->r.model_name;
  if (failed(h->r.model->condition(h->r.model, prompt, NULL, &sink, &h->ctx), h->r.model_name, "condition") ||
      h->cond.refused || /* said by put(); the model may have gone on */
      failed(h->r.model->noise(h->r.model, 1, g->height, g->width, &h->latent, &h->ctx), h->r.model_name, "noise"))
    return 1;
  if (!readable(h->latent, g->latent_ndim, g->latent_shape)) {
    fprintf(stderr, "%s: noise() made another latent than geometry() stated\n", h->r.model_name);
    return 1;
  }
  h->r.conditioning.struct_size = sizeof h->r.conditioning;
  h->r.conditioning.count = h->cond.count;
  h->r.conditioning.names = h->cond.names;
  h->r.conditioning.tensors = h->cond.tensors;
  h->r.latent_view = h->latent->dl_tensor;
  h->r.latent_view.byte_offset = 0; /* velocity() swaps in data that already points at the first value */
  return 0;
}

/* The schedule for the model's default step count, shifted by its image token count. It is used only as
 * scheduler.h promises it: steps + 1 sigmas, each a number in [0, 1], never increasing. */
static int schedule(host_t* h) {
  const char* who = h->r.scheduler_name;
  const uint32_t steps = h->r.geometry.default_steps;
  uint32_t i;
  if (failed(h->scheduler->sigmas(h->scheduler, steps, h->r.geometry.image_tokens, h->sigmas, 1024, &h->n_sigmas,
                                  &h->ctx), who, "sigmas"))
    return 1;
  if (h->n_sigmas > 1024 || h->n_sigmas != (uint64_t)steps + 1) {
    fprintf(stderr, "%s: sigmas() said it wrote %u values for %u steps into room for 1024 (scheduler.h: steps + 1)\n",
            who, h->n_sigmas, steps);
    return 1;
  }
  for (i = 0; i < h->n_sigmas; ++i) {
    const double s = h->sigmas[i];
    if (!(s >= 0.0 && s <= 1.0)) /* NaN and inf fail too */
      return fprintf(stderr, "%s: sigmas() wrote sigma %u = %g, outside [0, 1]\n", who, i, s), 1;
    if (i > 0 && s > h->sigmas[i - 1]) /* equal neighbours are allowed: zero-length steps */
      return fprintf(stderr, "%s: sigmas() wrote a schedule that goes up at sigma %u (%g after %g); a schedule never "
                     "increases\n", who, i, s, h->sigmas[i - 1]), 1;
  }
  return 0;
}

/* The scheduler moves the latent in place, through the ops lent here; x and ops only need to outlive sample(). */
static int sample(host_t* h) {
  genplug_tensor_ops_t ops = {sizeof ops, NULL, op_lincomb, op_alloc, op_release, op_normal};
  genplug_sample_request_t request;
  tensor_t x;
  int32_t i;
  x.data = values(&h->latent->dl_tensor);
  x.count = 1;
  for (i = 0; i < h->latent->dl_tensor.ndim; ++i) x.count *= (size_t)h->latent->dl_tensor.shape[i];
  x.lent = 0;
  memset(&request, 0, sizeof request);
  request.struct_size = sizeof request;
  request.sigmas = h->sigmas;
  request.sigma_count = h->n_sigmas;
  request.latent = (genplug_tensor_handle)&x;
  request.ops = &ops;
  request.velocity = velocity;
  request.velocity_user = &h->r;
  request.seed = 1;
  if (failed(h->scheduler->sample(h->scheduler, &request, &h->ctx), h->r.scheduler_name, "sample")) return 1;
  if (h->r.failure != GENPLUG_OK) /* said when it failed */
    return fprintf(stderr, "%s: sample() returned success after a failed evaluation\n", h->r.scheduler_name), 1;
  if (h->r.evaluations == 0 && h->n_sigmas > 1) /* the latent is still the noise it started as */
    return fprintf(stderr, "%s: sample() returned success without asking for a single velocity over %u steps\n",
                   h->r.scheduler_name, h->n_sigmas - 1), 1;
  return 0;
}

/* Decodes the sampled latent and writes the image; says what was made only once it is on disk. */
static int decode_and_write(host_t* h, const char* out) {
  const genplug_geometry_t* g = &h->r.geometry;
  size_t n, bad;
  if (failed(h->r.model->decode(h->r.model, &h->latent->dl_tensor, g->height, g->width, &h->image, &h->ctx),
             h->r.model_name, "decode"))
    return 1;
  if (!readable(h->image, 4, (const int64_t[4]){1, 3, g->height, g->width})) { /* model.h */
    fprintf(stderr, "%s: decode() made no CPU float32 [1, 3, %u, %u] image\n", h->r.model_name, g->height,
            g->width);
    return 1;
  }
  n = 3 * (size_t)g->height * g->width;
  bad = first_non_finite(values(&h->image->dl_tensor), n);
  if (bad < n) { /* written as black, it would pass for a render */
    fprintf(stderr, "%s: decode() made an image with a NaN or infinity (value %zu of %zu): nothing written\n",
            h->r.model_name, bad, n);
    return 1;
  }
  if (write_ppm(out, &h->image->dl_tensor)) return 1;
  printf("%u x %u, %u steps, %u rotary axes -> %s\n", g->width, g->height, h->n_sigmas - 1, g->axis_count, out);
  return 0;
}

/* Tensors first (their deleters are plugin code), then instances, then the libraries; on every path, and only
 * what was made. */
static void clean_up(host_t* h) {
  uint32_t i;
  free_tensor(h->image);
  free_tensor(h->latent);
  for (i = 0; i < h->cond.count; ++i) free_tensor(h->cond.owned[i]);
  DESTROY(genplug_posenc_t, h->r.posenc);
  DESTROY(genplug_scheduler_t, h->scheduler);
  DESTROY(genplug_model_t, h->r.model);
  unload(&h->posenc_lib);
  unload(&h->scheduler_lib);
  unload(&h->model_lib);
}

int main(int argc, char** argv) {
  host_t h;
  int rc;
  if (argc < 7 || argc > 8) {
    fprintf(stderr, "usage: %s MODEL_LIB MODEL_ID MODEL_CONFIG SCHEDULER_LIB POSENC_LIB OUT.ppm [PROMPT]\n",
            argc > 0 ? argv[0] : "c_render");
    return 2;
  }
  /* Everything starts empty, so that one clean-up at the end undoes whatever was done before a failure. */
  memset(&h, 0, sizeof h);
  h.ctx = context();
  h.r.ctx = &h.ctx;
  h.r.model_name = argv[2];
  h.r.posenc_name = argv[5];
  h.r.scheduler_name = argv[4];
  /* Each step runs only if all before it succeeded: || stops at the first failure, which said why. */
  rc = set_up(&h, argv) || ask_geometry(&h) || condition_and_noise(&h, argc > 7 ? argv[7] : "a red circle") ||
       schedule(&h) || sample(&h) || decode_and_write(&h, argv[6]);
  clean_up(&h);
  return rc;
}
