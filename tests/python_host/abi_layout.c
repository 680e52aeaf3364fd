/* Prints the layout of the C structs the Python host mirrors (samples/python-host/genplug_ctypes.py) as the C
 * compiler lays them out: {"struct": {"size": N, "fields": [[name, offset, size], ...]}, ...}. The Python test
 * compares its ctypes structs with this, field by field. */
#include <stddef.h>
#include <stdio.h>

#include <genplug/genplug.h>

static int first_field;

#define BEGIN(T) \
  printf("%s\"" #T "\": {\"size\": %zu, \"fields\": [", first_struct ? "" : ",\n", sizeof(T)), first_struct = 0, \
      first_field = 1
#define FIELD(T, f)                                                                                    \
  printf("%s[\"" #f "\", %zu, %zu]", first_field ? "" : ", ", offsetof(T, f), sizeof(((T*)0)->f)), \
      first_field = 0
#define END() printf("]}")

int main(void) {
  int first_struct = 1;
  printf("{");
  BEGIN(genplug_context_t);
  FIELD(genplug_context_t, struct_size);
  FIELD(genplug_context_t, host_data);
  FIELD(genplug_context_t, set_error);
  FIELD(genplug_context_t, log);
  FIELD(genplug_context_t, progress);
  FIELD(genplug_context_t, is_cancelled);
  END();
  BEGIN(genplug_descriptor_t);
  FIELD(genplug_descriptor_t, struct_size);
  FIELD(genplug_descriptor_t, id);
  FIELD(genplug_descriptor_t, name);
  FIELD(genplug_descriptor_t, vendor);
  FIELD(genplug_descriptor_t, version);
  FIELD(genplug_descriptor_t, description);
  FIELD(genplug_descriptor_t, features);
  FIELD(genplug_descriptor_t, config_schema);
  END();
  BEGIN(genplug_factory_t);
  FIELD(genplug_factory_t, struct_size);
  FIELD(genplug_factory_t, count);
  FIELD(genplug_factory_t, descriptor);
  FIELD(genplug_factory_t, create);
  END();
  BEGIN(genplug_entry_t);
  FIELD(genplug_entry_t, struct_size);
  FIELD(genplug_entry_t, abi_major);
  FIELD(genplug_entry_t, abi_minor);
  FIELD(genplug_entry_t, init);
  FIELD(genplug_entry_t, deinit);
  FIELD(genplug_entry_t, get_factory);
  END();
  BEGIN(genplug_rotary_layout_t);
  FIELD(genplug_rotary_layout_t, struct_size);
  FIELD(genplug_rotary_layout_t, axis_count);
  FIELD(genplug_rotary_layout_t, axis_dims);
  FIELD(genplug_rotary_layout_t, theta);
  FIELD(genplug_rotary_layout_t, base_extent);
  FIELD(genplug_rotary_layout_t, pixels_per_token);
  FIELD(genplug_rotary_layout_t, axis_flags);
  END();
  BEGIN(genplug_posenc_query_t);
  FIELD(genplug_posenc_query_t, struct_size);
  FIELD(genplug_posenc_query_t, layout);
  FIELD(genplug_posenc_query_t, target_extent);
  FIELD(genplug_posenc_query_t, t);
  END();
  BEGIN(genplug_spectrum_t);
  FIELD(genplug_spectrum_t, struct_size);
  FIELD(genplug_spectrum_t, freqs);
  FIELD(genplug_spectrum_t, freq_capacity);
  FIELD(genplug_spectrum_t, amplitude);
  FIELD(genplug_spectrum_t, amplitude_capacity);
  FIELD(genplug_spectrum_t, reserved);
  END();
  BEGIN(genplug_posenc_t);
  FIELD(genplug_posenc_t, struct_size);
  FIELD(genplug_posenc_t, impl);
  FIELD(genplug_posenc_t, destroy);
  FIELD(genplug_posenc_t, compute);
  FIELD(genplug_posenc_t, get_extension);
  END();
  printf(",\n\"abi\": [%d, %d]", GENPLUG_ABI_MAJOR, GENPLUG_ABI_MINOR);
  printf(",\n\"kinds\": {\"posenc\": \"%s\"}", GENPLUG_KIND_POSENC);
  printf(",\n\"entry_symbol\": \"%s\"", GENPLUG_ENTRY_SYMBOL);
  printf(",\n\"status\": [%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d]", GENPLUG_OK, GENPLUG_E_FAILED,
         GENPLUG_E_INVALID_ARGUMENT, GENPLUG_E_CONFIG, GENPLUG_E_UNSUPPORTED, GENPLUG_E_OUT_OF_MEMORY,
         GENPLUG_E_CANCELLED, GENPLUG_E_ABI_MISMATCH, GENPLUG_E_INTERNAL, GENPLUG_E_IO, GENPLUG_E_DEVICE,
         GENPLUG_E_BUFFER_TOO_SMALL);
  printf(",\n\"axis_flags\": [%u, %u]", GENPLUG_AXIS_SPATIAL, GENPLUG_AXIS_TEMPORAL);
  printf("}\n");
  return 0;
}
