// ABI 1.1 and 1.2 only append: every field a 1.0 reader knows keeps its offset, each new field lies past the end
// of the older struct (tail padding included), and GENPLUG_HAS_FIELD says "absent" for a struct of the older size.
// The v1_0 structs copy the 1.0 headers' layouts (every function pointer as one generic pointer type).
#define BOOST_TEST_MODULE abi_layout
#include <boost/test/unit_test.hpp>

#include <cstddef>

#include <genplug/genplug.h>

namespace v1_0 {
using fn = void (*)();
struct rotary_layout {
  uint32_t struct_size, axis_count;
  const uint32_t* axis_dims;
  double theta;
  const uint32_t* base_extent;
  uint32_t pixels_per_token;
};
struct scheduler {
  uint32_t struct_size;
  void* impl;
  fn destroy, sigmas, evaluation_count, sample, get_extension;
};
struct model {
  uint32_t struct_size;
  void* impl;
  fn destroy, describe, condition, noise, predict, decode, encode, get_extension;
};
}  // namespace v1_0

// Same offset and size in 1.0 and now; the appended field starts at or after its end.
#define CHECK_OLD_FIELD(type, old, field, appended)                                   \
  BOOST_CHECK_EQUAL(offsetof(type, field), offsetof(old, field));                      \
  BOOST_CHECK_EQUAL(sizeof(type::field), sizeof(old::field));                          \
  BOOST_CHECK_GE(offsetof(type, appended), offsetof(type, field) + sizeof(type::field))

// A struct as big as 1.0 made it (or cut at the new field) does not have the field; a full one does.
template <class T, class F>
void check_has_field(std::size_t v1_0_size, std::size_t appended_offset, F has) {
  BOOST_TEST_CONTEXT("1.0 size " << v1_0_size << ", appended field at " << appended_offset) {
    BOOST_CHECK_LE(v1_0_size, appended_offset);  // the new field does not sit in 1.0's tail padding
    T s{};
    s.struct_size = static_cast<uint32_t>(appended_offset);
    BOOST_CHECK(!has(&s));
    s.struct_size = static_cast<uint32_t>(v1_0_size);
    BOOST_CHECK(!has(&s));
    s.struct_size = sizeof(T);
    BOOST_CHECK(has(&s));
  }
}

BOOST_AUTO_TEST_CASE(rotary_layout_axis_flags_is_appended) {
  using T = genplug_rotary_layout_t;
  using O = v1_0::rotary_layout;
  CHECK_OLD_FIELD(T, O, struct_size, axis_flags);
  CHECK_OLD_FIELD(T, O, axis_count, axis_flags);
  CHECK_OLD_FIELD(T, O, axis_dims, axis_flags);
  CHECK_OLD_FIELD(T, O, theta, axis_flags);
  CHECK_OLD_FIELD(T, O, base_extent, axis_flags);
  CHECK_OLD_FIELD(T, O, pixels_per_token, axis_flags);
  check_has_field<T>(sizeof(O), offsetof(T, axis_flags),
                     [](const T* p) { return GENPLUG_HAS_FIELD(p, T, axis_flags); });
}

BOOST_AUTO_TEST_CASE(scheduler_count_evaluations_is_appended) {
  using T = genplug_scheduler_t;
  using O = v1_0::scheduler;
  CHECK_OLD_FIELD(T, O, struct_size, count_evaluations);
  CHECK_OLD_FIELD(T, O, impl, count_evaluations);
  CHECK_OLD_FIELD(T, O, destroy, count_evaluations);
  CHECK_OLD_FIELD(T, O, sigmas, count_evaluations);
  CHECK_OLD_FIELD(T, O, evaluation_count, count_evaluations);
  CHECK_OLD_FIELD(T, O, sample, count_evaluations);
  CHECK_OLD_FIELD(T, O, get_extension, count_evaluations);
  check_has_field<T>(sizeof(O), offsetof(T, count_evaluations),
                     [](const T* p) { return GENPLUG_HAS_FIELD(p, T, count_evaluations); });
}

BOOST_AUTO_TEST_CASE(model_geometry_is_appended) {
  using T = genplug_model_t;
  using O = v1_0::model;
  CHECK_OLD_FIELD(T, O, struct_size, geometry);
  CHECK_OLD_FIELD(T, O, impl, geometry);
  CHECK_OLD_FIELD(T, O, destroy, geometry);
  CHECK_OLD_FIELD(T, O, describe, geometry);
  CHECK_OLD_FIELD(T, O, condition, geometry);
  CHECK_OLD_FIELD(T, O, noise, geometry);
  CHECK_OLD_FIELD(T, O, predict, geometry);
  CHECK_OLD_FIELD(T, O, decode, geometry);
  CHECK_OLD_FIELD(T, O, encode, geometry);
  CHECK_OLD_FIELD(T, O, get_extension, geometry);
  check_has_field<T>(sizeof(O), offsetof(T, geometry),
                     [](const T* p) { return GENPLUG_HAS_FIELD(p, T, geometry); });
}

// 1.2 appended working_memory_bytes to the 1.1 geometry, which ended with `reserved` (kept so that its size was a
// multiple of 8 without tail padding): the new field starts right there.
BOOST_AUTO_TEST_CASE(geometry_working_memory_bytes_is_appended) {
  using T = genplug_geometry_t;
  const std::size_t v1_1_size = offsetof(T, reserved) + sizeof(T::reserved);
  BOOST_CHECK_EQUAL(v1_1_size % 8, 0u);
  BOOST_CHECK_EQUAL(offsetof(T, working_memory_bytes), v1_1_size);
  check_has_field<T>(v1_1_size, offsetof(T, working_memory_bytes),
                     [](const T* p) { return GENPLUG_HAS_FIELD(p, T, working_memory_bytes); });
}

// No ABI struct ends in padding: a field appended to one would be placed there by the compiler, inside the size an
// older build reports, and GENPLUG_HAS_FIELD could not tell it is absent (the spectrum had 4 such bytes, now
// `reserved`). The last field of each struct ends at its size.
#define CHECK_ENDS_AT(type, last) BOOST_CHECK_EQUAL(offsetof(type, last) + sizeof(type::last), sizeof(type))

BOOST_AUTO_TEST_CASE(no_struct_ends_in_padding) {
  CHECK_ENDS_AT(genplug_context_t, is_cancelled);
  CHECK_ENDS_AT(genplug_descriptor_t, config_schema);
  CHECK_ENDS_AT(genplug_factory_t, create);
  CHECK_ENDS_AT(genplug_entry_t, get_factory);
  CHECK_ENDS_AT(genplug_inspector_t, get_extension);
  CHECK_ENDS_AT(genplug_inspector_tokenize_t, tokenize);
  CHECK_ENDS_AT(genplug_tensor_sink_t, put);
  CHECK_ENDS_AT(genplug_geometry_query_t, frames);
  CHECK_ENDS_AT(genplug_geometry_t, working_memory_bytes);
  CHECK_ENDS_AT(genplug_tensor_list_t, tensors);
  CHECK_ENDS_AT(genplug_predict_args_t, spectrum);
  CHECK_ENDS_AT(genplug_model_t, geometry);
  CHECK_ENDS_AT(genplug_model_tensor_ops_t, normal);
  CHECK_ENDS_AT(genplug_model_adapters_t, set);
  CHECK_ENDS_AT(genplug_model_adapter_check_t, check);
  CHECK_ENDS_AT(genplug_model_preview_t, preview);
  CHECK_ENDS_AT(genplug_rotary_layout_t, axis_flags);
  CHECK_ENDS_AT(genplug_posenc_query_t, t);
  CHECK_ENDS_AT(genplug_spectrum_t, reserved);
  CHECK_ENDS_AT(genplug_posenc_t, get_extension);
  CHECK_ENDS_AT(genplug_tensor_ops_t, normal);
  CHECK_ENDS_AT(genplug_sample_request_t, seed);
  CHECK_ENDS_AT(genplug_scheduler_t, count_evaluations);
}
