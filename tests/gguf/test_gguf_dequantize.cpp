// genplug::gguf's block-quantised types (Q4_0 ... Q6_K, the types FLUX GGUF files are distributed in): each
// decodes to the value its fields stand for by ggml's formulas, for fields over their whole ranges; a file of them
// opens and reads back; a matrix of any of them re-blocks to Q8_0 within quantize_q8_0's bound; rows that are not
// whole blocks, and types genplug does not decode, are errors naming the tensor and the type.
#define BOOST_TEST_MODULE gguf_dequantize
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>

#include <genplug/gguf.hpp>
#include <genplug/safetensors.hpp>

#include "ggml_block_packer.hpp"
#include "temp_dir.hpp"

namespace gguf = genplug::gguf;
namespace st = genplug::safetensors;
using genplug::test::quantised_types;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const gguf::Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(every_field_decodes_to_ggmls_value) {
  std::mt19937 rng(20261203);
  for (gguf::Type t : quantised_types()) {
    BOOST_TEST_CONTEXT(gguf::type_name(uint32_t(t))) {
      const genplug::test::PackedBlocks p = genplug::test::random_blocks(t, 64, rng);
      std::vector<float> out(p.values.size(), NAN);
      gguf::dequantize(t, p.bytes.data(), int64_t(out.size()), out.data());
      BOOST_TEST(out == p.values, boost::test_tools::per_element());
    }
  }
}

// Bytes worked by hand from the format, not from the packer.
BOOST_AUTO_TEST_CASE(hand_worked_blocks) {
  // Q4_0, d = 0.5: byte 0x F0 holds value 0 (low nibble 0 → -8·0.5) and value 16 (15 → 7·0.5).
  std::vector<uint8_t> q4(18, 0x88);  // nibble 8 is zero
  q4[0] = 0x00, q4[1] = 0x38;        // f16 0.5
  q4[2] = 0xF0;
  std::vector<float> y(32);
  gguf::dequantize(gguf::Type::Q4_0, q4.data(), 32, y.data());
  BOOST_TEST(y[0] == -4.0f);
  BOOST_TEST(y[16] == 3.5f);
  BOOST_TEST(y[1] == 0.0f);
  // Q5_0, d = 1: qh bit 16 is value 16's fifth bit; its nibble 0 gives 16 - 16 = 0, value 0's nibble 3 gives -13.
  std::vector<uint8_t> q5(22, 0);
  q5[1] = 0x3C, q5[2 + 2] = 0x01;  // d = 1.0; qh = 1 << 16
  q5[6] = 0x03;
  gguf::dequantize(gguf::Type::Q5_0, q5.data(), 32, y.data());
  BOOST_TEST(y[0] == -13.0f);
  BOOST_TEST(y[16] == 0.0f);
  BOOST_TEST(y[17] == -16.0f);
  // Q4_K, d = 1, dmin = 0: scale 4 (values 128..159) is byte 8's low nibble 5 with byte 0's top bits 01: 21.
  std::vector<uint8_t> q4k(144, 0);
  q4k[1] = 0x3C;               // d = 1.0
  q4k[4 + 0] = 0x40;           // scale 0 = 0, top bits of scale 4 = 01
  q4k[4 + 8] = 0x05;           // scale 4 low nibble
  q4k[16 + 64] = 0x02;         // value 128 = low nibble of qs[64] (third group of 64)
  std::vector<float> yk(256);
  gguf::dequantize(gguf::Type::Q4_K, q4k.data(), 256, yk.data());
  BOOST_TEST(yk[128] == 42.0f);
  BOOST_TEST(yk[0] == 0.0f);
  // Q6_K, d = 1, scales[0] = 2: value 0 is ql[0]'s low nibble 1 with qh[0]'s bits 0..1 = 2 on top: 33 - 32 = 1.
  std::vector<uint8_t> q6(210, 0);
  q6[0] = 0x01, q6[128] = 0x02, q6[192] = 2, q6[209] = 0x3C;
  gguf::dequantize(gguf::Type::Q6_K, q6.data(), 256, yk.data());
  BOOST_TEST(yk[0] == 2.0f);
  BOOST_TEST(yk[1] == -64.0f);  // q = 0 - 32, scale 2
}

BOOST_AUTO_TEST_CASE(files_of_every_type_open_and_read_back) {
  genplug::test::TempDir dir("gguf-quant");
  std::mt19937 rng(7);
  std::vector<gguf::TensorData> tensors;
  std::vector<std::vector<float>> expected;
  for (gguf::Type t : quantised_types()) {
    const int64_t per_row = gguf::block_layout(uint32_t(t))->values * 2;
    const genplug::test::PackedBlocks p = genplug::test::random_blocks(t, 6, rng);  // [3, 2 blocks]
    tensors.push_back({"w." + gguf::type_name(uint32_t(t)), t, {3, per_row}, p.bytes});
    expected.push_back(p.values);
  }
  gguf::write_file(dir.path / "q.gguf", tensors, {{"general.architecture", "flux"}});
  const auto file = gguf::File::open(dir.path / "q.gguf");
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const gguf::TensorInfo* info = file->find(tensors[i].name);
    BOOST_TEST_REQUIRE(info);
    BOOST_TEST(gguf::type_name(uint32_t(info->type)) == gguf::type_name(uint32_t(tensors[i].type)));
    BOOST_TEST(info->nbytes == tensors[i].bytes.size());
    BOOST_TEST(gguf::to_float32(*info) == expected[i], boost::test_tools::per_element());
  }
}

// q8_0_blocks_of re-blocks every type by ggml's Q8_0 rule: the bytes are quantize_q8_0 of the decoded values, so
// each value moves by at most d/2 (q's rounding) + 127·|d16 - d| (|q| ≤ 127 times the stored float16 d16's
// rounding: d·2^-11 when d is a normal float16), d = max|x|/127 over its block of 32; plus d·2^-20 for the
// float32 rounding of x/d.
BOOST_AUTO_TEST_CASE(every_type_reblocks_to_q8_0_within_its_bound) {
  std::mt19937 rng(11);
  for (gguf::Type t : quantised_types()) {
    BOOST_TEST_CONTEXT(gguf::type_name(uint32_t(t))) {
      const int64_t cols = 512, rows = 3;
      const genplug::test::PackedBlocks p =
          genplug::test::random_blocks(t, int(rows * cols / gguf::block_layout(uint32_t(t))->values), rng);
      gguf::TensorInfo info;
      info.name = "w", info.type = t, info.shape = {rows, cols};
      info.data = p.bytes.data(), info.nbytes = p.bytes.size();
      const std::vector<uint8_t> q8 = gguf::q8_0_blocks_of(info);
      std::vector<uint8_t> expected(q8.size());
      gguf::quantize_q8_0(p.values.data(), rows * cols, expected.data());
      BOOST_TEST(q8 == expected, boost::test_tools::per_element());
      std::vector<float> back(p.values.size());
      gguf::dequantize_q8_0(q8.data(), rows * cols, back.data());
      double worst = 0.0;
      for (int64_t b = 0; b < rows * cols / 32; ++b) {
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(p.values[32 * b + j]));
        const double d = amax / 127.0;
        const double d16 = st::f16_to_float(uint16_t(q8[34 * b] | (q8[34 * b + 1] << 8)));
        for (int j = 0; j < 32; ++j) {
          const double err = std::fabs(back[32 * b + j] - p.values[32 * b + j]);
          BOOST_TEST(err <= d / 2 + 127 * std::fabs(d16 - d) + d * std::ldexp(1.0, -20));
          worst = std::max(worst, d > 0 ? err / d : 0.0);
        }
      }
      BOOST_TEST_MESSAGE(gguf::type_name(uint32_t(t)) << " re-blocked as Q8_0: worst error " << worst << " d");
    }
  }
  gguf::TensorInfo vector;
  vector.name = "bias", vector.type = gguf::Type::Q4_0, vector.shape = {32};
  std::vector<uint8_t> block(18, 0);
  vector.data = block.data(), vector.nbytes = block.size();
  BOOST_TEST(contains(error_of([&] { gguf::q8_0_blocks_of(vector); }), "'bias' is not a matrix"));
}

BOOST_AUTO_TEST_CASE(partial_blocks_and_undecoded_types_are_named) {
  BOOST_TEST(contains(error_of([] { gguf::byte_size(gguf::Type::Q4_K, {2, 64}); }),
                      "a Q4_K row of 64 values is not whole blocks of 256"));
  BOOST_TEST(contains(error_of([] { gguf::byte_size(gguf::Type::Q5_1, {40}); }), "whole blocks of 32"));
  BOOST_TEST(!gguf::block_layout(16));  // IQ2_XXS
  BOOST_TEST(!gguf::block_layout(15));  // Q8_K: ggml's intermediate, never in a file
  BOOST_TEST(gguf::type_name(16) == "IQ2_XXS");
  BOOST_TEST(gguf::type_name(99) == "type 99");

  // A file's tensor of an undecoded type: write a Q4_0 file, then patch its type to IQ4_NL (20, also 18 bytes per
  // 32 values).
  genplug::test::TempDir dir("gguf-iq");
  std::vector<uint8_t> block(18, 0);
  gguf::write_file(dir.path / "iq.gguf", {{"blk.0.w", gguf::Type::Q4_0, {1, 32}, block}},
                   {{"general.architecture", "flux"}});
  std::vector<uint8_t> bytes = [&] {
    std::ifstream in(dir.path / "iq.gguf", std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }();
  // The tensor info ends with u32 type and u64 offset (0): the type is the u32 just before the last 8 bytes of
  // the header, found by its value 2 followed by eight zero bytes after the name.
  const std::string name = "blk.0.w";
  auto at = std::search(bytes.begin(), bytes.end(), name.begin(), name.end());
  BOOST_TEST_REQUIRE((at != bytes.end()));
  const std::size_t type_at = std::size_t(at - bytes.begin()) + name.size() + 4 + 2 * 8;  // n_dims, ne[2]
  BOOST_TEST_REQUIRE(bytes[type_at] == 2);
  bytes[type_at] = 20;
  BOOST_TEST(contains(error_of([&] { gguf::File::parse(bytes, "iq.gguf"); }),
                      "iq.gguf: tensor 'blk.0.w' is IQ4_NL; genplug reads"));
}

// Q2_K holds 256 values in 84 bytes: a tensor may list more values than its file has bytes.
BOOST_AUTO_TEST_CASE(low_bit_tensors_may_have_more_values_than_the_file_has_bytes) {
  genplug::test::TempDir dir("gguf-q2k");
  std::mt19937 rng(3);
  const genplug::test::PackedBlocks p = genplug::test::random_blocks(gguf::Type::Q2_K, 40, rng);
  gguf::write_file(dir.path / "q2.gguf", {{"w", gguf::Type::Q2_K, {4, 2560}, p.bytes}},
                   {{"general.architecture", "flux"}});
  const auto file = gguf::File::open(dir.path / "q2.gguf");
  BOOST_TEST(std::filesystem::file_size(dir.path / "q2.gguf") < 4u * 2560u);
  BOOST_TEST(gguf::to_float32(*file->find("w")) == p.values, boost::test_tools::per_element());
}
