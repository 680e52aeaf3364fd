/* org.example.half-rope: a posenc plugin in plain C built by a Makefile (pkg-config genplug): RoPE frequencies
 * halved on every axis the model flags spatial, amplitude 1. All its data is static, so init/deinit have
 * nothing to count (entry.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <genplug/genplug.h>

static const char* const no_features[] = {NULL};
static const genplug_descriptor_t descriptor = {
    sizeof(genplug_descriptor_t), "org.example.half-rope", "Half RoPE (example)", "Example Inc.", "1.0.0",
    "RoPE frequencies halved on spatial axes", no_features, "{\"type\": \"object\", \"additionalProperties\": false}"};

static genplug_status fail(const genplug_context_t* ctx, genplug_status code, const char* message) {
  if (ctx && ctx->set_error) ctx->set_error(ctx, code, message);
  return code;
}

/* [thread: render] */
static genplug_status compute(genplug_posenc_t* self, const genplug_posenc_query_t* q, genplug_spectrum_t* out,
                              const genplug_context_t* ctx) {
  const genplug_rotary_layout_t* l = q->layout;
  const int flags = GENPLUG_HAS_FIELD(l, genplug_rotary_layout_t, axis_flags) && l->axis_flags;
  uint32_t a, j, k = 0, needed = 0;
  (void)self;
  for (a = 0; a < l->axis_count; ++a) needed += l->axis_dims[a] / 2;
  if (out->freq_capacity < needed || out->amplitude_capacity < l->axis_count)
    return fail(ctx, GENPLUG_E_BUFFER_TOO_SMALL, "half-rope: spectrum buffers too small");
  for (a = 0; a < l->axis_count; ++a) {
    const int spatial = flags ? (l->axis_flags[a] & GENPLUG_AXIS_SPATIAL) != 0 : a > 0;
    for (j = 0; j < l->axis_dims[a] / 2; ++j)
      out->freqs[k++] = pow(l->theta, -2.0 * j / l->axis_dims[a]) * (spatial ? 0.5 : 1.0);
    out->amplitude[a] = 1.0;
  }
  return GENPLUG_OK;
}

static void destroy(genplug_posenc_t* self) { free(self); }
static const void* get_extension(genplug_posenc_t* self, const char* id) {
  (void)self, (void)id;
  return NULL;
}

static uint32_t count(const genplug_factory_t* f) {
  (void)f;
  return 1;
}
static const genplug_descriptor_t* get_descriptor(const genplug_factory_t* f, uint32_t i) {
  (void)f;
  return i == 0 ? &descriptor : NULL;
}
static genplug_status create(const genplug_factory_t* f, const char* id, const char* config,
                             const genplug_context_t* ctx, void** out) {
  genplug_posenc_t* p;
  (void)f;
  *out = NULL;
  if (!id || strcmp(id, descriptor.id) != 0) return fail(ctx, GENPLUG_E_INVALID_ARGUMENT, "unknown plugin id");
  if (config && strcmp(config, "{}") != 0) return fail(ctx, GENPLUG_E_CONFIG, "config: half-rope takes no settings");
  p = calloc(1, sizeof *p);
  if (!p) return fail(ctx, GENPLUG_E_OUT_OF_MEMORY, "out of memory");
  p->struct_size = sizeof *p;
  p->impl = NULL;
  p->destroy = destroy;
  p->compute = compute;
  p->get_extension = get_extension;
  *out = p;
  return GENPLUG_OK;
}
static const genplug_factory_t factory = {sizeof(genplug_factory_t), count, get_descriptor, create};

static genplug_status init(const char* path, const genplug_context_t* ctx) {
  (void)path, (void)ctx;
  return GENPLUG_OK;
}
static void deinit(void) {}
static const genplug_factory_t* get_factory(const char* kind) {
  return strcmp(kind, GENPLUG_KIND_POSENC) == 0 ? &factory : NULL;
}

GENPLUG_EXPORT const genplug_entry_t genplug_entry = {sizeof(genplug_entry_t), GENPLUG_ABI_MAJOR, GENPLUG_ABI_MINOR,
                                                      init, deinit, get_factory};
