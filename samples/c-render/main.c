/* A whole genplug host in C11: load a model, a scheduler and a posenc plugin, ask the model for its geometry,
 * condition on a prompt, draw noise, let the scheduler sample with tensor operations this host lends, with a
 * fresh rotary spectrum from the posenc before every model evaluation, decode, and write a binary PPM.
 * docs/abi.md ("Writing a host") walks through it. This host does its arithmetic on CPU float32 latents; a
 * model that keeps them elsewhere lends its own operations (GENPLUG_EXT_MODEL_TENSOR_OPS), not shown here.
 *
 *   c_render MODEL_LIB MODEL_ID MODEL_CONFIG SCHEDULER_LIB POSENC_LIB OUT.ppm [PROMPT]
 *
 * The scheduler and posenc are the first plugin of their library (flowmatch Euler, DyPE's default). */
#define _XOPEN_SOURCE 700 /* realpath, under -std=c11 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <genplug/genplug.h>

/* ---- 1. Loading: dlopen, the entry, init; errors land in one buffer through the context ---------- */

static char last_error[1024];
static void on_error(const genplug_context_t* ctx, genplug_status code, const char* message) {
  (void)ctx;
  snprintf(last_error, sizeof last_error, "%s (status %d)", message ? message : "", (int)code);
}
static genplug_context_t context(void) {
  genplug_context_t c;
  memset(&c, 0, sizeof c);
  c.struct_size = sizeof c;
  c.set_error = on_error;
  return c;
}

typedef struct library {
  void* handle;
  const genplug_entry_t* entry;
} library_t;

/* A tensor the host received: its deleter runs once (model.h: producers set it; NULL would be nothing to free). */
static void free_tensor(DLManagedTensor* t) {
  if (t && t->deleter) t->deleter(t);
}

/* init gets the library's absolute path (entry.h): a plugin finds its files beside it. */
static int load(const char* path, library_t* lib, const genplug_context_t* ctx) {
  char* absolute = realpath(path, NULL);
  int failed = 1;
  if (!absolute) return fprintf(stderr, "cannot load %s: %s\n", path, strerror(errno)), 1;
  lib->handle = dlopen(absolute, RTLD_NOW | RTLD_LOCAL);
  lib->entry = lib->handle ? (const genplug_entry_t*)dlsym(lib->handle, GENPLUG_ENTRY_SYMBOL) : NULL;
  if (!lib->handle)
    fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
  else if (!lib->entry || lib->entry->abi_major != GENPLUG_ABI_MAJOR)
    fprintf(stderr, "%s: no genplug entry of ABI major %d\n", path, GENPLUG_ABI_MAJOR);
  else if (lib->entry->init(absolute, ctx) != GENPLUG_OK)
    fprintf(stderr, "%s: init: %s\n", path, last_error);
  else
    failed = 0;
  free(absolute);
  return failed;
}

/* The instance of plugin `id` (NULL: the first) of a kind, made from `config`. */
static void* create(const library_t* lib, const char* kind, const char* id, const char* config,
                    const genplug_context_t* ctx) {
  const genplug_factory_t* f = lib->entry->get_factory(kind);
  void* instance = NULL;
  if (!f || f->count(f) == 0) return fprintf(stderr, "no %s plugin in the library\n", kind), NULL;
  if (!id) id = f->descriptor(f, 0)->id;
  if (f->create(f, id, config, ctx, &instance) != GENPLUG_OK) fprintf(stderr, "create %s: %s\n", id, last_error);
  return instance;
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
  genplug_status s = r->posenc->compute(r->posenc, &query, &spectrum, r->ctx);
  if (s != GENPLUG_OK) return s;
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
  if (s != GENPLUG_OK) return s;
  memcpy(((tensor_t*)v_out)->data, v->dl_tensor.data, ((tensor_t*)v_out)->count * sizeof(float));
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
  const float* p = (const float*)image->data;
  int64_t y, x, c;
  FILE* f = fopen(path, "wb");
  if (!f) return fprintf(stderr, "cannot write %s\n", path), 1;
  fprintf(f, "P6\n%lld %lld\n255\n", (long long)w, (long long)h);
  for (y = 0; y < h; ++y)
    for (x = 0; x < w; ++x)
      for (c = 0; c < 3; ++c) {
        const float v = p[(c * h + y) * w + x];
        fputc((int)(255.0f * (v < 0 ? 0 : v > 1 ? 1 : v) + 0.5f), f);
      }
  return fclose(f) == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  library_t model_lib, scheduler_lib, posenc_lib;
  genplug_context_t ctx = context();
  render_t r;
  collected_t cond;
  genplug_tensor_sink_t sink = {sizeof sink, &cond, put};
  genplug_geometry_query_t defaults = {sizeof defaults, 0, 0, 0};
  genplug_scheduler_t* scheduler;
  DLManagedTensor *latent = NULL, *image = NULL;
  double sigmas[1024];
  uint32_t n_sigmas = 0, i;
  tensor_t x;
  genplug_tensor_ops_t ops = {sizeof ops, NULL, op_lincomb, op_alloc, op_release, op_normal};
  genplug_sample_request_t request;
  int rc = 1;

  if (argc < 7) {
    fprintf(stderr, "usage: %s MODEL_LIB MODEL_ID MODEL_CONFIG SCHEDULER_LIB POSENC_LIB OUT.ppm [PROMPT]\n", argv[0]);
    return 2;
  }
  if (load(argv[1], &model_lib, &ctx) || load(argv[4], &scheduler_lib, &ctx) || load(argv[5], &posenc_lib, &ctx))
    return 1;
  memset(&r, 0, sizeof r);
  memset(&cond, 0, sizeof cond);
  r.ctx = &ctx;
  r.model = create(&model_lib, GENPLUG_KIND_MODEL, argv[2], argv[3], &ctx);
  scheduler = create(&scheduler_lib, GENPLUG_KIND_SCHEDULER, NULL, "{\"sampler\": \"euler\"}", &ctx);
  r.posenc = create(&posenc_lib, GENPLUG_KIND_POSENC, NULL, "{}", &ctx);
  if (!r.model || !scheduler || !r.posenc) return 1;

  /* The model says everything about its geometry: size, rotary layout, target extent, latent, defaults. */
  r.geometry.struct_size = sizeof r.geometry;
  if (!GENPLUG_HAS_FIELD(r.model, genplug_model_t, geometry) || !r.model->geometry) /* an ABI 1.0 model */
    return fprintf(stderr, "the model states no geometry (ABI 1.0): rebuild it against 1.1\n"), 1;
  if (r.model->geometry(r.model, &defaults, &r.geometry, &ctx) != GENPLUG_OK)
    return fprintf(stderr, "geometry: %s\n", last_error), 1;
  /* This host's arithmetic (and the velocity memcpy below) is for CPU float32 latents only. */
  if (r.geometry.latent_device.device_type != kDLCPU || r.geometry.latent_dtype.code != kDLFloat ||
      r.geometry.latent_dtype.bits != 32)
    return fprintf(stderr, "this host samples CPU float32 latents only\n"), 1;
  if (r.model->condition(r.model, argc > 7 ? argv[7] : "a red circle", NULL, &sink, &ctx) != GENPLUG_OK ||
      r.model->noise(r.model, 1, r.geometry.height, r.geometry.width, &latent, &ctx) != GENPLUG_OK)
    return fprintf(stderr, "condition/noise: %s\n", last_error), 1;
  if (latent->dl_tensor.device.device_type != kDLCPU || latent->dl_tensor.dtype.code != kDLFloat ||
      latent->dl_tensor.dtype.bits != 32)
    return fprintf(stderr, "noise() made another latent than geometry() stated\n"), 1;
  r.conditioning.struct_size = sizeof r.conditioning;
  r.conditioning.count = cond.count;
  r.conditioning.names = cond.names;
  r.conditioning.tensors = cond.tensors;
  r.latent_view = latent->dl_tensor;

  /* The schedule for the model's default step count, shifted by its image token count. */
  if (scheduler->sigmas(scheduler, r.geometry.default_steps, r.geometry.image_tokens, sigmas, 1024, &n_sigmas,
                        &ctx) != GENPLUG_OK)
    return fprintf(stderr, "sigmas: %s\n", last_error), 1;

  x.data = (float*)latent->dl_tensor.data;
  x.count = 1;
  for (i = 0; i < (uint32_t)latent->dl_tensor.ndim; ++i) x.count *= (size_t)latent->dl_tensor.shape[i];
  x.lent = 0;
  memset(&request, 0, sizeof request);
  request.struct_size = sizeof request;
  request.sigmas = sigmas;
  request.sigma_count = n_sigmas;
  request.latent = (genplug_tensor_handle)&x;
  request.ops = &ops;
  request.velocity = velocity;
  request.velocity_user = &r;
  request.seed = 1;
  if (scheduler->sample(scheduler, &request, &ctx) != GENPLUG_OK) {
    fprintf(stderr, "sample: %s\n", last_error);
  } else if (r.model->decode(r.model, &latent->dl_tensor, r.geometry.height, r.geometry.width, &image, &ctx) != GENPLUG_OK) {
    fprintf(stderr, "decode: %s\n", last_error);
  } else {
    rc = write_ppm(argv[6], &image->dl_tensor);
    if (rc == 0)
      printf("%u x %u, %u steps, %u rotary axes -> %s\n", r.geometry.width, r.geometry.height, n_sigmas - 1,
             r.geometry.axis_count, argv[6]);
    free_tensor(image);
  }

  /* Tensors first (their deleters are plugin code), then instances, then the libraries. */
  free_tensor(latent);
  for (i = 0; i < cond.count; ++i) free_tensor(cond.owned[i]);
  r.posenc->destroy(r.posenc);
  scheduler->destroy(scheduler);
  r.model->destroy(r.model);
  posenc_lib.entry->deinit();
  scheduler_lib.entry->deinit();
  model_lib.entry->deinit();
  dlclose(posenc_lib.handle);
  dlclose(scheduler_lib.handle);
  dlclose(model_lib.handle);
  return rc;
}
