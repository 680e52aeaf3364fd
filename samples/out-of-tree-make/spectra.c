/* A C host built by a Makefile (pkg-config genplug): for each posenc library given, the first plugin's axis-1
 * amplitude and first frequency for FLUX.1's layout at 2048 x 2048 tokens of 16 px, t = 1:
 *   spectra LIB...      prints "<plugin id> <amplitude> <freq>" per library */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <genplug/genplug.h>

static char message[512];
static void on_error(const genplug_context_t* ctx, genplug_status code, const char* m) {
  (void)ctx;
  snprintf(message, sizeof message, "%s (status %d)", m ? m : "", (int)code);
}

static int spectrum_of(const char* path) {
  genplug_context_t ctx;
  const uint32_t dims[3] = {16, 56, 56}, base[3] = {1, 64, 64}, target[3] = {1, 128, 128};
  const uint32_t flags[3] = {0, GENPLUG_AXIS_SPATIAL, GENPLUG_AXIS_SPATIAL};
  double freqs[64], amplitude[3];
  genplug_rotary_layout_t layout = {sizeof layout, 3, dims, 10000.0, base, 16, flags};
  genplug_posenc_query_t query = {sizeof query, &layout, target, 1.0};
  genplug_spectrum_t out = {sizeof out, freqs, 64, amplitude, 3, 0};
  const genplug_entry_t* entry;
  const genplug_factory_t* factory;
  genplug_posenc_t* posenc = NULL;
  const char* id;
  int rc = 1;
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) return fprintf(stderr, "%s: %s\n", path, dlerror()), 1;
  memset(&ctx, 0, sizeof ctx);
  ctx.struct_size = sizeof ctx;
  ctx.set_error = on_error;
  entry = (const genplug_entry_t*)dlsym(lib, GENPLUG_ENTRY_SYMBOL);
  if (!entry || entry->abi_major != GENPLUG_ABI_MAJOR || entry->init(path, &ctx) != GENPLUG_OK) {
    fprintf(stderr, "%s: no usable genplug entry %s\n", path, message);
    dlclose(lib);
    return 1;
  }
  factory = entry->get_factory(GENPLUG_KIND_POSENC);
  if (factory && factory->count(factory) > 0) {
    id = factory->descriptor(factory, 0)->id;
    if (factory->create(factory, id, "{}", &ctx, (void**)&posenc) == GENPLUG_OK &&
        posenc->compute(posenc, &query, &out, &ctx) == GENPLUG_OK) {
      printf("%s %.9f %.9g\n", id, amplitude[1], freqs[8]);
      rc = 0;
    } else {
      fprintf(stderr, "%s: %s\n", id, message);
    }
    if (posenc) posenc->destroy(posenc);
  }
  entry->deinit();
  dlclose(lib);
  return rc;
}

int main(int argc, char** argv) {
  int i, rc = 0;
  for (i = 1; i < argc; ++i) rc |= spectrum_of(argv[i]);
  return argc > 1 ? rc : 2;
}
