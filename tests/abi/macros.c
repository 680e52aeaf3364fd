/* The ABI's macros in use, compiled as strict C11 and as C++17 with the generated per-header files:
 * GENPLUG_HAS_FIELD on a received struct, GENPLUG_EXPORT on a definition, the C linkage wrappers. */
#include <genplug/genplug.h>

GENPLUG_BEGIN_DECLS

GENPLUG_EXPORT int genplug_abi_check_macros(const genplug_rotary_layout_t* layout, const genplug_scheduler_t* s);

GENPLUG_EXPORT int genplug_abi_check_macros(const genplug_rotary_layout_t* layout, const genplug_scheduler_t* s) {
  return GENPLUG_HAS_FIELD(layout, genplug_rotary_layout_t, axis_flags) +
         GENPLUG_HAS_FIELD(s, genplug_scheduler_t, count_evaluations) + GENPLUG_ABI_MAJOR + GENPLUG_ABI_MINOR;
}

GENPLUG_END_DECLS
