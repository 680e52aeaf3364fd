/* org.example.half-rope: a posenc plugin in plain C built by a Makefile (pkg-config genplug): RoPE frequencies
 * halved on every axis the model flags spatial, amplitude 1. All its data is static, so init/deinit have
 * nothing to count (entry.h). */
#include <math.h>
#include <stdio.h>
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

/* Whether a query is one posenc.h lets a posenc answer; if not, writes why into `why`. Everything it refuses is
 * GENPLUG_E_INVALID_ARGUMENT: a NULL or too small struct, t outside [0, 1], an odd axis dim, a zero extent. This
 * plugin reads no extent, but a host that sends a zero one has a bug worth hearing of. */
static int valid_query(const genplug_posenc_query_t* q, const genplug_spectrum_t* out, char* why, size_t size) {
  const genplug_rotary_layout_t* l = GENPLUG_HAS_FIELD(q, genplug_posenc_query_t, t) ? q->layout : NULL;
  uint32_t a;
  if (!GENPLUG_HAS_FIELD(l, genplug_rotary_layout_t, pixels_per_token) ||
      !GENPLUG_HAS_FIELD(out, genplug_spectrum_t, amplitude_capacity) ||
      (l->axis_count > 0 && (!l->axis_dims || !l->base_extent || !q->target_extent)))
    return snprintf(why, size, "half-rope: a NULL or too small query, layout or spectrum"), 0;
  if (!(q->t >= 0.0 && q->t <= 1.0)) /* NaN too */
    return snprintf(why, size, "half-rope: t = %g is outside [0, 1]", q->t), 0;
  for (a = 0; a < l->axis_count; ++a) {
    if (l->axis_dims[a] % 2 != 0)
      return snprintf(why, size, "half-rope: axis %u has an odd dim, %u", (unsigned)a, (unsigned)l->axis_dims[a]), 0;
    if (l->base_extent[a] == 0 || q->target_extent[a] == 0)
      return snprintf(why, size, "half-rope: axis %u has a zero extent (base %u, target %u)", (unsigned)a,
                      (unsigned)l->base_extent[a], (unsigned)q->target_extent[a]), 0;
  }
  return 1;
}

/* [thread: render] */
static genplug_status compute(genplug_posenc_t* self, const genplug_posenc_query_t* q, genplug_spectrum_t* out,
                              const genplug_context_t* ctx) {
  const genplug_rotary_layout_t* l;
  int flags;
  uint32_t a, j, k = 0;
  uint64_t needed = 0; /* a sum of uint32_t dims: no wrap-around that would pass the capacity check */
  char why[128]; /* set_error copies it: a stack buffer is fine, and safe when instances compute concurrently */
  (void)self;
  if (!valid_query(q, out, why, sizeof why)) return fail(ctx, GENPLUG_E_INVALID_ARGUMENT, why);
  l = q->layout;
  flags = GENPLUG_HAS_FIELD(l, genplug_rotary_layout_t, axis_flags) && l->axis_flags;
  for (a = 0; a < l->axis_count; ++a) needed += l->axis_dims[a] / 2;
  if (out->freq_capacity < needed || out->amplitude_capacity < l->axis_count) {
    snprintf(why, sizeof why, "half-rope: spectrum buffers too small: %llu frequencies and %u amplitudes needed",
             (unsigned long long)needed, (unsigned)l->axis_count);
    return fail(ctx, GENPLUG_E_BUFFER_TOO_SMALL, why);
  }
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

GENPLUG_EXTERN_C GENPLUG_EXPORT const genplug_entry_t genplug_entry = {sizeof(genplug_entry_t), GENPLUG_ABI_MAJOR,
                                                                       GENPLUG_ABI_MINOR, init, deinit, get_factory};
