/* A genplug host in C11 alone: dlopen a posenc plugin library, find a plugin through the entry and its
 * factory, create it, and print the rotary spectrum for a FLUX.1 layout at a target size.
 *
 *   c_host LIBRARY [PLUGIN_ID [CONFIG_JSON [HEIGHT WIDTH [T]]]]
 *
 * With no PLUGIN_ID the first posenc plugin of the library is used. Exit status 0 on success. */
#define _XOPEN_SOURCE 700 /* realpath, under -std=c11 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <genplug/genplug.h>

static char last_error[1024];

static void on_error(const genplug_context_t* ctx, genplug_status code, const char* message) {
  (void)ctx;
  snprintf(last_error, sizeof last_error, "%s (status %d)", message ? message : "", (int)code);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s LIBRARY [PLUGIN_ID [CONFIG_JSON [HEIGHT WIDTH [T]]]]\n", argv[0]);
    return 2;
  }
  const char* config = argc > 3 ? argv[3] : "{}";
  const unsigned height = argc > 5 ? (unsigned)strtoul(argv[4], NULL, 10) : 4096;
  const unsigned width = argc > 5 ? (unsigned)strtoul(argv[5], NULL, 10) : 4096;
  const double t = argc > 6 ? strtod(argv[6], NULL) : 0.5;

  /* init gets the library's absolute path (entry.h): a plugin finds its files beside it. */
  char* path = realpath(argv[1], NULL);
  void* lib = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
  if (!lib) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], path ? dlerror() : strerror(errno));
    free(path);
    return 1;
  }
  const genplug_entry_t* entry = (const genplug_entry_t*)dlsym(lib, GENPLUG_ENTRY_SYMBOL);
  if (!entry || entry->abi_major != GENPLUG_ABI_MAJOR) {
    fprintf(stderr, "%s: no compatible genplug entry\n", argv[1]);
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
  if (initialised != GENPLUG_OK) {
    fprintf(stderr, "init failed: %s\n", last_error);
    return 1;
  }
  int rc = 1;
  const genplug_factory_t* factory = entry->get_factory(GENPLUG_KIND_POSENC);
  if (!factory || factory->count(factory) == 0) {
    fprintf(stderr, "%s holds no posenc plugin\n", argv[1]);
    goto done;
  }
  const char* id = argc > 2 ? argv[2] : factory->descriptor(factory, 0)->id;

  void* instance = NULL;
  if (factory->create(factory, id, config, &ctx, &instance) != GENPLUG_OK) {
    fprintf(stderr, "create %s failed: %s\n", id, last_error);
    goto done;
  }
  {
    genplug_posenc_t* posenc = (genplug_posenc_t*)instance;
    /* FLUX.1: axes 16, 56, 56, theta 10000, trained at 64 x 64 tokens of 16 px. */
    const uint32_t dims[3] = {16, 56, 56};
    const uint32_t base[3] = {1, 64, 64};
    const uint32_t target[3] = {1, height / 16, width / 16};
    double freqs[64];
    double amplitude[3];
    const uint32_t flags[3] = {0, GENPLUG_AXIS_SPATIAL, GENPLUG_AXIS_SPATIAL}; /* the index axis is never scaled */
    genplug_rotary_layout_t layout = {sizeof(genplug_rotary_layout_t), 3, dims, 10000.0, base, 16, flags};
    genplug_posenc_query_t query = {sizeof(genplug_posenc_query_t), &layout, target, t};
    genplug_spectrum_t out = {sizeof(genplug_spectrum_t), freqs, 64, amplitude, 3};
    if (posenc->compute(posenc, &query, &out, &ctx) != GENPLUG_OK) {
      fprintf(stderr, "compute failed: %s\n", last_error);
    } else {
      printf("{\"plugin\": \"%s\", \"height\": %u, \"width\": %u, \"t\": %.17g, \"axes\": [", id, height, width, t);
      unsigned offset = 0;
      for (unsigned a = 0; a < 3; ++a) {
        printf("%s{\"dim\": %u, \"mscale\": %.17g, \"freqs\": [", a ? ", " : "", dims[a], amplitude[a]);
        for (unsigned j = 0; j < dims[a] / 2; ++j) printf("%s%.17g", j ? ", " : "", freqs[offset + j]);
        printf("]}");
        offset += dims[a] / 2;
      }
      printf("]}\n");
      rc = 0;
    }
    posenc->destroy(posenc);
  }
done:
  entry->deinit();
  dlclose(lib);
  return rc;
}
