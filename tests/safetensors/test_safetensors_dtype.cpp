#define BOOST_TEST_MODULE safetensors_dtype
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include <genplug/safetensors.hpp>

#include "raw_file.hpp"

namespace st = genplug::safetensors;

namespace {
bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }
}  // namespace

BOOST_AUTO_TEST_CASE(names_sizes_and_parsing) {
  const std::vector<std::pair<st::DType, size_t>> all = {
      {st::DType::F64, 8}, {st::DType::F32, 4}, {st::DType::F16, 2}, {st::DType::BF16, 2},
      {st::DType::F8_E4M3, 1}, {st::DType::F8_E5M2, 1}, {st::DType::I64, 8}, {st::DType::I32, 4},
      {st::DType::I16, 2}, {st::DType::I8, 1}, {st::DType::U8, 1}, {st::DType::BOOL, 1}};
  for (const auto& [dtype, size] : all) {
    BOOST_TEST(st::dtype_size(dtype) == size);
    BOOST_TEST((st::parse_dtype(st::dtype_name(dtype)) == dtype));
  }
  BOOST_TEST(std::string(st::dtype_name(st::DType::F8_E4M3)) == "F8_E4M3");
  BOOST_TEST(!st::parse_dtype("f32").has_value());  // case matters in the format
  BOOST_TEST(!st::parse_dtype("U16").has_value());
  BOOST_TEST(st::is_floating(st::DType::BF16));
  BOOST_TEST(!st::is_floating(st::DType::I8));
}

BOOST_AUTO_TEST_CASE(f16_known_bit_patterns) {
  BOOST_TEST(st::f16_to_float(0x3C00) == 1.0f);
  BOOST_TEST(st::f16_to_float(0xC000) == -2.0f);
  BOOST_TEST(st::f16_to_float(0x3555) == 0.333251953125f);
  BOOST_TEST(st::f16_to_float(0x7BFF) == 65504.0f);
  BOOST_TEST(st::f16_to_float(0x0400) == std::ldexp(1.0f, -14));         // smallest normal
  BOOST_TEST(st::f16_to_float(0x0001) == std::ldexp(1.0f, -24));         // smallest subnormal
  BOOST_TEST(st::f16_to_float(0x03FF) == std::ldexp(1023.0f, -24));      // largest subnormal
  BOOST_TEST(st::f16_to_float(0x7C00) == std::numeric_limits<float>::infinity());
  BOOST_TEST(st::f16_to_float(0xFC00) == -std::numeric_limits<float>::infinity());
  BOOST_TEST(std::isnan(st::f16_to_float(0x7E00)));
  BOOST_TEST(std::isnan(st::f16_to_float(0x7C01)));
  BOOST_TEST(same_bits(st::f16_to_float(0x8000), -0.0f));
}

BOOST_AUTO_TEST_CASE(bf16_known_bit_patterns) {
  BOOST_TEST(st::bf16_to_float(0x3F80) == 1.0f);
  BOOST_TEST(st::bf16_to_float(0x4049) == 3.140625f);
  BOOST_TEST(st::bf16_to_float(0xC2F7) == -123.5f);
  BOOST_TEST(st::bf16_to_float(0x0001) == std::ldexp(1.0f, -133));
  BOOST_TEST(st::bf16_to_float(0x7F7F) == std::ldexp(255.0f, 120));  // largest finite: 0x7F7F0000
  BOOST_TEST(st::bf16_to_float(0x7F80) == std::numeric_limits<float>::infinity());
  BOOST_TEST(std::isnan(st::bf16_to_float(0x7FC0)));
}

BOOST_AUTO_TEST_CASE(f8_e4m3fn_known_bit_patterns) {
  BOOST_TEST(st::f8_e4m3_to_float(0x38) == 1.0f);
  BOOST_TEST(st::f8_e4m3_to_float(0x40) == 2.0f);
  BOOST_TEST(st::f8_e4m3_to_float(0x3C) == 1.5f);
  BOOST_TEST(st::f8_e4m3_to_float(0xB8) == -1.0f);
  BOOST_TEST(st::f8_e4m3_to_float(0x7E) == 448.0f);   // largest finite (no infinities in e4m3fn)
  BOOST_TEST(st::f8_e4m3_to_float(0xFE) == -448.0f);
  BOOST_TEST(st::f8_e4m3_to_float(0x78) == 256.0f);   // exponent 15 is an ordinary exponent here
  BOOST_TEST(st::f8_e4m3_to_float(0x08) == std::ldexp(1.0f, -6));  // smallest normal
  BOOST_TEST(st::f8_e4m3_to_float(0x01) == std::ldexp(1.0f, -9));  // smallest subnormal
  BOOST_TEST(st::f8_e4m3_to_float(0x07) == std::ldexp(7.0f, -9));
  BOOST_TEST(std::isnan(st::f8_e4m3_to_float(0x7F)));
  BOOST_TEST(std::isnan(st::f8_e4m3_to_float(0xFF)));
  BOOST_TEST(same_bits(st::f8_e4m3_to_float(0x80), -0.0f));
  // Positive codes 0x00..0x7E are strictly increasing, negatives mirror them.
  for (int b = 1; b <= 0x7E; ++b) {
    BOOST_TEST(st::f8_e4m3_to_float(static_cast<uint8_t>(b)) > st::f8_e4m3_to_float(static_cast<uint8_t>(b - 1)));
    BOOST_TEST(st::f8_e4m3_to_float(static_cast<uint8_t>(b | 0x80)) == -st::f8_e4m3_to_float(static_cast<uint8_t>(b)));
  }
}

BOOST_AUTO_TEST_CASE(f8_e5m2_known_bit_patterns) {
  BOOST_TEST(st::f8_e5m2_to_float(0x3C) == 1.0f);
  BOOST_TEST(st::f8_e5m2_to_float(0x7B) == 57344.0f);
  BOOST_TEST(st::f8_e5m2_to_float(0x01) == std::ldexp(1.0f, -16));
  BOOST_TEST(st::f8_e5m2_to_float(0x7C) == std::numeric_limits<float>::infinity());
  BOOST_TEST(std::isnan(st::f8_e5m2_to_float(0x7D)));
}

BOOST_AUTO_TEST_CASE(narrowing_round_trips_and_rounds_to_nearest_even) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const auto bits = static_cast<uint16_t>(b);
    const float h = st::f16_to_float(bits);
    if (!std::isnan(h)) BOOST_REQUIRE_EQUAL(st::float_to_f16(h), bits);
    const float bf = st::bf16_to_float(bits);
    if (!std::isnan(bf)) BOOST_REQUIRE_EQUAL(st::float_to_bf16(bf), bits);
  }
  BOOST_TEST(st::float_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3F80);      // tie -> even
  BOOST_TEST(st::float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3F82);  // tie -> even (up)
  BOOST_TEST(st::float_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);
  BOOST_TEST(st::float_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);
  BOOST_TEST(st::float_to_f16(65519.0f) == 0x7BFF);
  BOOST_TEST(st::float_to_f16(65520.0f) == 0x7C00);
  BOOST_TEST(st::float_to_f16(std::ldexp(1.0f, -25)) == 0x0000);             // tie -> even (zero)
  BOOST_TEST(st::float_to_f16(std::ldexp(3.0f, -25)) == 0x0002);
  BOOST_TEST(std::isnan(st::f16_to_float(st::float_to_f16(std::nanf("")))));
  BOOST_TEST(std::isnan(st::bf16_to_float(st::float_to_bf16(std::nanf("")))));
}

BOOST_AUTO_TEST_CASE(tensor_conversion_of_every_float_dtype) {
  const auto dir = genplug::test::scratch_dir("st-dtype");
  auto raw = [](st::DType dtype, std::vector<uint8_t> bytes) {
    st::TensorData t;
    t.name = st::dtype_name(dtype);
    t.dtype = dtype;
    t.shape = {static_cast<int64_t>(bytes.size() / st::dtype_size(dtype))};
    t.bytes = std::move(bytes);
    return t;
  };
  std::vector<st::TensorData> tensors;
  tensors.push_back(raw(st::DType::F16, {0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00}));  // 1, -2, 2^-24
  tensors.push_back(raw(st::DType::BF16, {0x80, 0x3F, 0x49, 0x40}));            // 1, 3.140625
  tensors.push_back(raw(st::DType::F8_E4M3, {0x38, 0x7E, 0x01, 0xFE}));         // 1, 448, 2^-9, -448
  tensors.push_back(raw(st::DType::F8_E5M2, {0x3C, 0x7B}));                     // 1, 57344
  std::vector<uint8_t> f64(16);
  const double values[2] = {0.1, -1e300};
  std::memcpy(f64.data(), values, 16);
  tensors.push_back(raw(st::DType::F64, f64));
  st::write_file(dir / "dtypes.safetensors", tensors);
  const auto file = st::File::open(dir / "dtypes.safetensors");
  BOOST_TEST(st::to_float32(file->at("F16")) == (std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24)}),
             boost::test_tools::per_element());
  BOOST_TEST(st::to_float64(file->at("BF16")) == (std::vector<double>{1.0, 3.140625}), boost::test_tools::per_element());
  BOOST_TEST(st::to_float32(file->at("F8_E4M3")) ==
                 (std::vector<float>{1.0f, 448.0f, std::ldexp(1.0f, -9), -448.0f}),
             boost::test_tools::per_element());
  BOOST_TEST(st::to_float32(file->at("F8_E5M2")) == (std::vector<float>{1.0f, 57344.0f}),
             boost::test_tools::per_element());
  BOOST_TEST(st::to_float64(file->at("F64")) == (std::vector<double>{0.1, -1e300}), boost::test_tools::per_element());
  const auto narrowed = st::to_float32(file->at("F64"));
  BOOST_TEST(narrowed[0] == 0.1f);
  BOOST_TEST(std::isinf(narrowed[1]));
  std::filesystem::remove_all(dir);
}
