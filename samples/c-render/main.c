/* A whole genplug host in C11: load a model, a scheduler and a posenc plugin, ask the model for its geometry,
 * condition on a prompt, draw noise, let the scheduler sample with tensor operations this host lends, with a
 * fresh rotary spectrum from the posenc before every model evaluation, decode, and write a binary PPM.
 * docs/abi.md ("Writing a host") walks through it. This host does its arithmetic on CPU float32 latents; a
 * model that keeps them elsewhere lends its own operations (GENPLUG_EXT_MODEL_TENSOR_OPS), not shown here.
 *
 *   c_render MODEL_LIB MODEL_ID MODEL_CONFIG SCHEDULER_LIB POSENC_LIB OUT.ppm [PROMPT]
 *
 * The scheduler and posenc are the first plugin of their library (flowmatch Euler, DyPE's default).
 * Exit status 0 on success, 1 when a library or a plugin call fails, 2 for bad arguments. */
#define _XOPEN_SOURCE 700 /* realpath, under -std=c11 */
#include <dlfcn.h>
#include <errno.h>
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
  else if (!entry || entry->abi_major != GENPLUG_ABI_MAJOR)
    fprintf(stderr, "%s: no genplug entry of ABI major %d\n", path, GENPLUG_ABI_MAJOR);
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
  const genplug_descriptor_t* first = f && f->count(f) > 0 ? f->descriptor(f, 0) : NULL;
  void* instance = NULL;
  if (!id) id = GENPLUG_HAS_FIELD(first, genplug_descriptor_t, id) ? first->id : NULL;
  if (!f || !id) return fprintf(stderr, "%s: no %s plugin in the library\n", lib->path, kind), NULL;
  if (failed(f->create(f, id, config, ctx, &instance), id, "create")) return NULL;
  if (!instance) fprintf(stderr, "%s: create succeeded but returned no instance\n", id);
  return instance;
}

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
    for (k = 0; k < n; ++k) acc = k ? acc + (float)c[k] * ((tensor_t*)in[k])->data[i] : (float)c[k] * ((tensor_t*)in[k])->data[i];
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

typedef struct render {
  genplug_model_t* model;
  genplug_posenc_t* posenc;
  genplug_geometry_t geometry;
  genplug_tensor_list_t conditioning;
  const genplug_context_t* ctx;
  const char *model_name, *posenc_name; /* for messages */
  DLTensor latent_view; /* the latent's shape and dtype, with data swapped in per call */
} render_t;

static genplug_status velocity(void* user, genplug_tensor_handle x, double sigma, genplug_tensor_handle v_out) {
  render_t* r = user;
  const genplug_geometry_t* g = &r->geometry;
  double freqs[512], amplitude[GENPLUG_MAX_AXES];
  genplug_rotary_layout_t layout = {sizeof layout, g->axis_count, g->axis_dims, g->theta, g->base_extent,
                                    g->pixels_per_token, g->axis_flags};
  genplug_posenc_query_t query = {sizeof query, &layout, g->target_extent, sigma < 0 ? 0 : sigma > 1 ? 1 : sigma};
  genplug_spectrum_t spectrum = {sizeof spectrum, freqs, 512, amplitude, GENPLUG_MAX_AXES};
  genplug_predict_args_t args;
  DLManagedTensor* v = NULL;
  /* Failures are said here: the scheduler may report its own message for the failed callback over them. */
  genplug_status s = r->posenc->compute(r->posenc, &query, &spectrum, r->ctx);
  if (failed(s, r->posenc_name, "compute")) return s;
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
  if (failed(s, r->model_name, "predict")) return s;
  if (!readable(v, r->latent_view.ndim, r->latent_view.shape)) {
    fprintf(stderr, "%s: predict() made no velocity of the latent's shape, dtype and device\n", r->model_name);
    free_tensor(v);
    return GENPLUG_E_INTERNAL;
  }
  memcpy(((tensor_t*)v_out)->data, values(&v->dl_tensor), ((tensor_t*)v_out)->count * sizeof(float));
  free_tensor(v); /* a host may instead adopt v as v_out's memory: no copy (the reference host does) */
  return GENPLUG_OK;
}

/* ---- 4. Conditioning arrives through a sink: up to 8 named tensors kept until the end ------------- */

typedef struct collected {
  const char* names[8];
  char storage[8][64];
  const DLTensor* tensors[8];
  DLManagedTensor* owned[8];
  uint32_t count;
} collected_t;

static genplug_status put(const genplug_tensor_sink_t* sink, const char* name, DLManagedTensor* t) {
  collected_t* c = sink->host_data;
  if (!t || !name) return free_tensor(t), GENPLUG_E_INVALID_ARGUMENT;
  if (c->count == 8) return free_tensor(t), GENPLUG_E_OUT_OF_MEMORY; /* put() owns t even when it fails */
  snprintf(c->storage[c->count], sizeof c->storage[0], "%s", name);
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
        const float v = p[(c * h + y) * w + x];
        fputc((int)(255.0f * (v > 0 ? (v < 1 ? v : 1) : 0) + 0.5f), f); /* NaN too becomes 0 */
      }
  if (fclose(f) == 0) return 0; /* a full disk shows here, when the buffered bytes are written */
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
  return !h->r.model || !h->scheduler || !h->r.posenc;
}

/* The model says everything about its geometry: size, rotary layout, target extent, latent, defaults. */
static int ask_geometry(host_t* h) {
  genplug_geometry_query_t defaults = {sizeof defaults, 0, 0, 0};
  genplug_geometry_t* g = &h->r.geometry;
  g->struct_size = sizeof *g;
  if (!GENPLUG_HAS_FIELD(h->r.model, genplug_model_t, geometry) || !h->r.model->geometry) { /* an ABI 1.0 model */
    fprintf(stderr, "the model states no geometry (ABI 1.0): rebuild it against 1.1\n");
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
  return 0;
}

/* The conditioning lands in h->cond through the sink; the latent must be what geometry() stated. */
static int condition_and_noise(host_t* h, const char* prompt) {
  genplug_tensor_sink_t sink = {sizeof sink, &h->cond, put};
  const genplug_geometry_t* g = &h->r.geometry;
  if (failed(h->r.model->condition(h->r.model, prompt, NULL, &sink, &h->ctx), h->r.model_name, "condition") ||
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

/* The schedule for the model's default step count, shifted by its image token count. */
static int schedule(host_t* h) {
  const char* who = h->scheduler_lib.path;
  if (failed(h->scheduler->sigmas(h->scheduler, h->r.geometry.default_steps, h->r.geometry.image_tokens, h->sigmas,
                                  1024, &h->n_sigmas, &h->ctx), who, "sigmas"))
    return 1;
  if (h->n_sigmas == 0 || h->n_sigmas > 1024) {
    fprintf(stderr, "%s: sigmas() said it wrote %u values into room for 1024\n", who, h->n_sigmas);
    return 1;
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
  return failed(h->scheduler->sample(h->scheduler, &request, &h->ctx), h->scheduler_lib.path, "sample");
}

/* Decodes the sampled latent and writes the image; says what was made only once it is on disk. */
static int decode_and_write(host_t* h, const char* out) {
  const genplug_geometry_t* g = &h->r.geometry;
  if (failed(h->r.model->decode(h->r.model, &h->latent->dl_tensor, g->height, g->width, &h->image, &h->ctx),
             h->r.model_name, "decode"))
    return 1;
  if (!readable(h->image, 4, (const int64_t[4]){1, 3, g->height, g->width})) { /* model.h */
    fprintf(stderr, "%s: decode() made no CPU float32 [1, 3, %u, %u] image\n", h->r.model_name, g->height,
            g->width);
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
  if (h->r.posenc) h->r.posenc->destroy(h->r.posenc);
  if (h->scheduler) h->scheduler->destroy(h->scheduler);
  if (h->r.model) h->r.model->destroy(h->r.model);
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
  /* Each step runs only if all before it succeeded: || stops at the first failure, which said why. */
  rc = set_up(&h, argv) || ask_geometry(&h) || condition_and_noise(&h, argc > 7 ? argv[7] : "a red circle") ||
       schedule(&h) || sample(&h) || decode_and_write(&h, argv[6]);
  clean_up(&h);
  return rc;
}
