/* A genplug host in C11 alone: dlopen a posenc plugin library, find a plugin through the entry and its
 * factory, create it, and print the rotary spectrum for a FLUX.1 layout at a target size.
 *
 *   c_host LIBRARY [PLUGIN_ID [CONFIG_JSON [HEIGHT WIDTH [T]]]]
 *
 * With no PLUGIN_ID the first posenc plugin of the library is used. HEIGHT and WIDTH are pixels, at least 16
 * (one token), 4096 x 4096 unless both are given; T is the diffusion time in [0, 1], 0.5 unless given.
 * Exit status 0 on success, 1 when the library or a plugin call fails or a plugin breaks the ABI's contract (a
 * NULL function, a spectrum left unwritten, not finite or written past its end), 2 for bad arguments. */
#define _XOPEN_SOURCE 700 /* realpath, under -std=c11 */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <genplug/genplug.h>

/* ---- Arguments: parsed strictly, so that a typo is refused instead of becoming another request ---- */

static int usage(const char* program, const char* problem, const char* text) {
  if (problem) fprintf(stderr, "%s: %s, got '%s'\n", program, problem, text);
  fprintf(stderr, "usage: %s LIBRARY [PLUGIN_ID [CONFIG_JSON [HEIGHT WIDTH [T]]]]\n", program);
  return 2;
}

/* Decimal digits only, in [least, most]. strtoul alone would read "abc" as 0, skip spaces, and turn "-16"
 * into a huge number; errno catches numbers beyond unsigned long. */
static int parse_unsigned(const char* text, unsigned long least, unsigned long most, unsigned long* out) {
  char* end;
  if (!isdigit((unsigned char)text[0])) return 0;
  errno = 0;
  *out = strtoul(text, &end, 10);
  return *end == '\0' && errno == 0 && *out >= least && *out <= most;
}

/* A number and nothing after it, in [least, most] (which also refuses nan and inf). strtod's ERANGE refuses an
 * overflow; an underflow (1e-320: a subnormal or 0) is still a number. */
static int parse_double(const char* text, double least, double most, double* out) {
  char* end;
  errno = 0;
  *out = strtod(text, &end);
  const int in_range = errno == 0 || (errno == ERANGE && fabs(*out) <= DBL_MIN);
  return end != text && *end == '\0' && in_range && *out >= least && *out <= most;
}

/* ---- Errors: the plugin reports them through the context ------------------------------------------------ */

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

/* The id of the first plugin a factory lists, or NULL. A broken library may list no descriptor where its
 * count says there is one, or an incomplete one: GENPLUG_HAS_FIELD checks for NULL and for the size. */
static const char* first_id(const genplug_factory_t* factory) {
  const genplug_descriptor_t* d = factory->count(factory) > 0 ? factory->descriptor(factory, 0) : NULL;
  return GENPLUG_HAS_FIELD(d, genplug_descriptor_t, id) ? d->id : NULL;
}

/* A table a plugin hands over is called through only when its struct_size reaches the functions called and none
 * of them is NULL: a broken library is refused with a message instead of crashing the host. */
static const char* entry_problem(const genplug_entry_t* e) {
  if (!GENPLUG_HAS_FIELD(e, genplug_entry_t, abi_major) || e->abi_major != GENPLUG_ABI_MAJOR)
    return "no compatible genplug entry";
  if (!GENPLUG_HAS_FIELD(e, genplug_entry_t, get_factory) || !e->init || !e->deinit || !e->get_factory)
    return "its genplug entry is too small or has a NULL init, deinit or get_factory";
  return NULL;
}
static int factory_complete(const genplug_factory_t* f) {
  return GENPLUG_HAS_FIELD(f, genplug_factory_t, create) && f->count && f->descriptor && f->create;
}
static int posenc_complete(const genplug_posenc_t* p) {
  return GENPLUG_HAS_FIELD(p, genplug_posenc_t, compute) && p->destroy && p->compute;
}

/* ---- The spectrum: checked before it is printed, as the reference host checks it (host.hpp) ------------ */

/* Slots after each buffer, past the capacity the plugin is told: a plugin that writes beyond it changes one. */
#define GUARD 4

/* A quiet NaN with a payload no arithmetic makes. Every slot starts as it: one still holding it after compute
 * was not written (printing it would have shown whatever the stack held), and a guard slot that no longer holds
 * it was written past the end. */
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
static void fill_marker(double* buffer, unsigned count) {
  for (unsigned i = 0; i < count + GUARD; ++i) buffer[i] = marker();
}

/* Whether `count` values of `what` the plugin `id` wrote (GUARD slots after them) are unfit to use; if so, says
 * which and why. NaN and inf are refused too: they are no frequency, and JSON has no way to print them. */
static int bad_values(const double* buffer, unsigned count, const char* id, const char* what) {
  for (unsigned i = 0; i < count + GUARD; ++i) {
    const char* problem = i >= count ? (is_marker(buffer[i]) ? NULL : "past the capacity it was given, yet written")
                          : is_marker(buffer[i]) ? "left unwritten"
                          : isnan(buffer[i])     ? "NaN"
                          : !isfinite(buffer[i]) ? "infinite"
                                                 : NULL;
    if (problem) {
      fprintf(stderr, "%s: compute returned success, but %s %u is %s (posenc.h: a posenc writes all %u, finite, "
              "and nothing past them)\n", id, what, i, problem, count);
      return 1;
    }
  }
  return 0;
}

/* A JSON string: quotes, backslashes and control characters escaped (a plugin id is any text the user gave). */
static void print_json_string(const char* s) {
  putchar('"');
  for (; *s; ++s) {
    const unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

/* Asks the posenc for the spectrum of FLUX.1's layout at height x width pixels and time t, and prints it as JSON
 * once it is known sound. Returns 0 on success, 1 (said why) otherwise. */
static int print_spectrum(genplug_posenc_t* posenc, const char* id, unsigned long height, unsigned long width,
                          double t, const genplug_context_t* ctx) {
  /* FLUX.1: axes 16, 56, 56, theta 10000, trained at 64 x 64 tokens of 16 px: 64 frequencies, 3 amplitudes. */
  const uint32_t dims[3] = {16, 56, 56};
  const uint32_t base[3] = {1, 64, 64};
  const uint32_t target[3] = {1, (uint32_t)(height / 16), (uint32_t)(width / 16)};
  double freqs[64 + GUARD];
  double amplitude[3 + GUARD];
  const uint32_t flags[3] = {0, GENPLUG_AXIS_SPATIAL, GENPLUG_AXIS_SPATIAL}; /* the index axis is never scaled */
  genplug_rotary_layout_t layout = {sizeof(genplug_rotary_layout_t), 3, dims, 10000.0, base, 16, flags};
  genplug_posenc_query_t query = {sizeof(genplug_posenc_query_t), &layout, target, t};
  genplug_spectrum_t out = {sizeof(genplug_spectrum_t), freqs, 64, amplitude, 3, 0}; /* the guards are not told */
  fill_marker(freqs, 64);
  fill_marker(amplitude, 3);
  if (failed(posenc->compute(posenc, &query, &out, ctx), id, "compute") || bad_values(freqs, 64, id, "frequency") ||
      bad_values(amplitude, 3, id, "amplitude"))
    return 1;
  printf("{\"plugin\": ");
  print_json_string(id);
  printf(", \"height\": %lu, \"width\": %lu, \"t\": %.17g, \"axes\": [", height, width, t);
  unsigned offset = 0;
  for (unsigned a = 0; a < 3; ++a) {
    printf("%s{\"dim\": %u, \"mscale\": %.17g, \"freqs\": [", a ? ", " : "", dims[a], amplitude[a]);
    for (unsigned j = 0; j < dims[a] / 2; ++j) printf("%s%.17g", j ? ", " : "", freqs[offset + j]);
    printf("]}");
    offset += dims[a] / 2;
  }
  printf("]}\n");
  return 0;
}

int main(int argc, char** argv) {
  const char* program = argc > 0 ? argv[0] : "c_host"; /* argv[0] is NULL when argc is 0 */
  /* HEIGHT without WIDTH is refused rather than ignored: the default would not be what was asked for. */
  if (argc < 2 || argc == 5 || argc > 7) return usage(program, NULL, NULL);
  const char* config = argc > 3 ? argv[3] : "{}";
  unsigned long height = 4096, width = 4096;
  double t = 0.5;
  if (argc > 5 && !parse_unsigned(argv[4], 16, UINT32_MAX, &height))
    return usage(program, "HEIGHT must be a whole number of pixels from 16 to 4294967295", argv[4]);
  if (argc > 5 && !parse_unsigned(argv[5], 16, UINT32_MAX, &width))
    return usage(program, "WIDTH must be a whole number of pixels from 16 to 4294967295", argv[5]);
  if (argc > 6 && !parse_double(argv[6], 0.0, 1.0, &t))
    return usage(program, "T must be a number from 0 to 1", argv[6]);

  /* init gets the library's absolute path (entry.h): a plugin finds its files beside it. */
  char* path = realpath(argv[1], NULL);
  void* lib = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
  if (!lib) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], path ? dlerror() : strerror(errno));
    free(path);
    return 1;
  }
  const genplug_entry_t* entry = (const genplug_entry_t*)dlsym(lib, GENPLUG_ENTRY_SYMBOL);
  const char* problem = entry_problem(entry);
  if (problem) {
    fprintf(stderr, "%s: %s\n", argv[1], problem);
    free(path);
    dlclose(lib);
    return 1;
  }
  genplug_context_t ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.struct_size = sizeof ctx;
  ctx.set_error = on_error;
  const genplug_status initialised = entry->init(path, &ctx);
  free(path);
  if (failed(initialised, argv[1], "init")) {
    dlclose(lib); /* no deinit: a failed init is not undone (entry.h) */
    return 1;
  }
  int rc = 1;
  const genplug_factory_t* factory = entry->get_factory(GENPLUG_KIND_POSENC);
  if (factory && !factory_complete(factory)) {
    fprintf(stderr, "%s: its posenc factory is too small or has a NULL count, descriptor or create\n", argv[1]);
    goto done;
  }
  const char* id = argc > 2 ? argv[2] : factory ? first_id(factory) : NULL;
  if (!factory || !id) {
    fprintf(stderr, "%s holds no posenc plugin\n", argv[1]);
    goto done;
  }

  void* instance = NULL;
  if (failed(factory->create(factory, id, config, &ctx, &instance), id, "create")) goto done;
  if (!instance) { /* OK without an instance breaks the contract (entry.h): refuse it, do not crash on it */
    fprintf(stderr, "%s: create succeeded but returned no instance\n", id);
    goto done;
  }
  genplug_posenc_t* posenc = (genplug_posenc_t*)instance;
  if (posenc_complete(posenc))
    rc = print_spectrum(posenc, id, height, width, t, &ctx);
  else
    fprintf(stderr, "%s: its instance is too small or has a NULL destroy or compute\n", id);
  if (GENPLUG_HAS_FIELD(posenc, genplug_posenc_t, destroy) && posenc->destroy) posenc->destroy(posenc);
done:
  entry->deinit();
  dlclose(lib);
  return rc;
}
