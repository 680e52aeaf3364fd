// genplug::gguf: what the writer writes reads back (shapes reversed into ne and back, every type, metadata);
// Q8_0 follows ggml's reference rule value for value; and every corrupted or hostile file is an Error naming
// the file and saying what is wrong, never a crash, a hang or a huge allocation.
#define BOOST_TEST_MODULE gguf_file
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <fstream>

#include <genplug/gguf.hpp>
#include <genplug/safetensors.hpp>

#include "address_space_limit.hpp"
#include "temp_dir.hpp"

namespace gguf = genplug::gguf;
namespace st = genplug::safetensors;

namespace {

std::vector<uint8_t> bytes_of(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<uint8_t> q8_0_of(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() / 32 * gguf::kQ8BlockBytes);
  gguf::quantize_q8_0(v.data(), int64_t(v.size()), b.data());
  return b;
}

std::vector<uint8_t> read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A valid file: a Q8_0 matrix [2, 64], an F32 vector [3], F16 and BF16 [2, 2], and two metadata strings.
struct Sample {
  genplug::test::TempDir dir{"gguf"};
  std::filesystem::path path = dir.path / "sample.gguf";
  std::vector<float> matrix, vector = {1.5f, -2.0f, 0.25f};
  Sample() {
    for (int i = 0; i < 128; ++i) matrix.push_back(float(std::sin(0.37 * i)) * (i < 64 ? 1.0f : 1e-3f));
    auto halves = [](uint16_t (*narrow)(float)) {
      std::vector<uint8_t> b;
      for (float v : {1.0f, -0.5f, 3.0f, 0.125f}) {
        const uint16_t h = narrow(v);
        b.push_back(uint8_t(h & 0xff)), b.push_back(uint8_t(h >> 8));
      }
      return b;
    };
    gguf::write_file(path,
                     {{"blocks.weight", gguf::Type::Q8_0, {2, 64}, q8_0_of(matrix)},
                      {"blocks.bias", gguf::Type::F32, {3}, bytes_of(vector)},
                      {"half", gguf::Type::F16, {2, 2}, halves(st::float_to_f16)},
                      {"brain", gguf::Type::BF16, {2, 2}, halves(st::float_to_bf16)}},
                     {{"general.architecture", "flux"}, {"general.name", "sample"}});
  }
};

// The error message of parsing `bytes`, "" when they parse.
std::string parse_error(std::vector<uint8_t> bytes) {
  try {
    gguf::File::parse(std::move(bytes), "hostile.gguf");
  } catch (const gguf::Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Little-endian field writers for hand-made headers.
void put(std::vector<uint8_t>& b, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b.push_back(uint8_t(v >> (8 * i)));
}
void put_string(std::vector<uint8_t>& b, const std::string& s) {
  put(b, s.size(), 8);
  b.insert(b.end(), s.begin(), s.end());
}
std::vector<uint8_t> header(uint64_t tensors, uint64_t kv, uint32_t version = 3) {
  std::vector<uint8_t> b = {'G', 'G', 'U', 'F'};
  put(b, version, 4);
  put(b, tensors, 8);
  put(b, kv, 8);
  return b;
}
// One tensor info: name, dims (ne order), type, offset.
void put_tensor(std::vector<uint8_t>& b, const std::string& name, std::vector<uint64_t> ne, uint32_t type,
                uint64_t offset) {
  put_string(b, name);
  put(b, ne.size(), 4);
  for (uint64_t n : ne) put(b, n, 8);
  put(b, type, 4);
  put(b, offset, 8);
}
void pad_and_data(std::vector<uint8_t>& b, std::size_t data_bytes) {
  b.resize((b.size() + 31) / 32 * 32, 0);
  b.resize(b.size() + data_bytes, 0);
}

}  // namespace

BOOST_AUTO_TEST_CASE(written_files_read_back) {
  Sample s;
  const auto f = gguf::File::open(s.path);
  BOOST_TEST(f->version() == 3u);
  BOOST_TEST(f->alignment() == 32u);
  BOOST_TEST(f->strings().at("general.architecture") == "flux");
  BOOST_TEST(f->strings().at("general.name") == "sample");
  BOOST_TEST_REQUIRE(f->tensors().size() == 4u);
  const gguf::TensorInfo& m = *f->find("blocks.weight");
  BOOST_TEST(m.shape == std::vector<int64_t>({2, 64}));
  BOOST_TEST((m.type == gguf::Type::Q8_0));
  BOOST_TEST(m.nbytes == 4 * gguf::kQ8BlockBytes);
  BOOST_TEST(gguf::to_float32(*f->find("blocks.bias")) == s.vector, boost::test_tools::per_element());
  const std::vector<float> halves = {1.0f, -0.5f, 3.0f, 0.125f};
  BOOST_TEST(gguf::to_float32(*f->find("half")) == halves, boost::test_tools::per_element());
  BOOST_TEST(gguf::to_float32(*f->find("brain")) == halves, boost::test_tools::per_element());
  BOOST_TEST(f->find("absent") == nullptr);
  // Offsets are aligned in the file.
  for (const auto& t : f->tensors()) BOOST_TEST((t.data - f->tensors()[0].data) % 32 == 0, t.name);
  BOOST_TEST(gguf::type_name(12) == "Q4_K");
  BOOST_TEST(gguf::type_name(99) == "type 99");
}

// ggml's quantize_row_q8_0_ref: d = max|x| / 127 per block of 32, q = roundf(x / d) (half away from zero), d
// stored as f16. So every value comes back within d/2 plus q times d's f16 rounding (|q| <= 127, relative 2^-11).
BOOST_AUTO_TEST_CASE(q8_0_follows_ggml_reference_rule) {
  Sample s;
  const auto f = gguf::File::open(s.path);
  const std::vector<float> back = gguf::to_float32(*f->find("blocks.weight"));
  for (int b = 0; b < 4; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(s.matrix[32 * b + j]));
    const double d = amax / 127.0;
    for (int j = 0; j < 32; ++j) {
      const int i = 32 * b + j;
      BOOST_TEST(std::fabs(back[i] - s.matrix[i]) <= d / 2 + 127 * d * std::ldexp(1.0, -11), "value " << i);
    }
  }
  // Half away from zero, as roundf: x / d = 2.5 becomes 3, -2.5 becomes -3 (round-half-even would give 2).
  std::vector<float> block(32, 0.0f);
  block[0] = 127.0f, block[1] = 2.5f, block[2] = -2.5f, block[3] = 0.49999997f;
  std::vector<uint8_t> q(gguf::kQ8BlockBytes);
  gguf::quantize_q8_0(block.data(), 32, q.data());
  BOOST_TEST(st::f16_to_float(uint16_t(q[0] | (q[1] << 8))) == 1.0f);
  BOOST_TEST(int(int8_t(q[2])) == 127);
  BOOST_TEST(int(int8_t(q[3])) == 3);
  BOOST_TEST(int(int8_t(q[4])) == -3);
  BOOST_TEST(int(int8_t(q[5])) == 0);
  // An all-zero block has d = 0 and q = 0, not NaN.
  std::vector<float> zeros(32, 0.0f), out(32, 1.0f);
  gguf::quantize_q8_0(zeros.data(), 32, q.data());
  gguf::dequantize_q8_0(q.data(), 32, out.data());
  BOOST_TEST(out == zeros, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(every_truncation_is_an_error) {
  Sample s;
  const std::vector<uint8_t> full = read_all(s.path);
  BOOST_TEST(parse_error(full) == "");
  // The last tensor ("brain", 8 bytes) is followed by padding to 32 that a reader does not need.
  const std::size_t end = full.size() - (32 - gguf::File::open(s.path)->find("brain")->nbytes % 32) % 32;
  for (std::size_t n = 0; n < end; ++n) {
    const std::string m = parse_error(std::vector<uint8_t>(full.begin(), full.begin() + long(n)));
    BOOST_TEST_INFO("truncated to " << n << " bytes: " << m);
    BOOST_TEST(contains(m, "hostile.gguf: "));
  }
}

BOOST_AUTO_TEST_CASE(corrupt_headers_are_named) {
  struct Case {
    const char* what;
    std::vector<uint8_t> bytes;
    const char* says;
  };
  std::vector<Case> cases;
  cases.push_back({"magic", {'G', 'G', 'U', 'G', 3, 0, 0, 0}, "no 'GGUF' magic"});
  cases.push_back({"version 1", header(0, 0, 1), "version 1"});
  cases.push_back({"big-endian version", header(0, 0, 0x03000000), "version"});
  cases.push_back({"tensor count", header(uint64_t(1) << 60, 0), "claims"});
  {
    auto b = header(0, 1);
    put_string(b, "general.alignment"), put(b, 4, 4), put(b, 24, 4);
    cases.push_back({"alignment", b, "not a power of two"});
  }
  {
    auto b = header(0, 1);
    put_string(b, "x"), put(b, 9, 4), put(b, 8, 4), put(b, uint64_t(1) << 62, 8);
    cases.push_back({"array length", b, "claims"});
  }
  {
    auto b = header(0, 1);
    put_string(b, "x"), put(b, 9, 4);
    for (int i = 0; i < 12; ++i) put(b, 9, 4), put(b, 1, 8);  // an array of one array of one array ...
    cases.push_back({"nesting", b, "deeper than 8"});
  }
  {
    auto b = header(0, 1);
    put(b, 70000, 8);
    b.resize(b.size() + 70000, 'k');
    cases.push_back({"long key", b, "a metadata key of 70000 bytes (at most 65535)"});
  }
  {
    auto b = header(0, 1);
    put_string(b, "x"), put(b, 13, 4);
    cases.push_back({"value type", b, "unknown value type 13"});
  }
  {
    auto b = header(0, 1);
    put_string(b, "x"), put(b, 7, 4), b.push_back(2);
    cases.push_back({"bool", b, "bool other than 0 or 1"});
  }
  {
    auto b = header(0, 2);
    put_string(b, "x"), put(b, 0, 4), b.push_back(1);
    put_string(b, "x"), put(b, 0, 4), b.push_back(1);
    cases.push_back({"duplicate key", b, "appears twice"});
  }
  {
    auto b = header(1, 0);
    put_tensor(b, "w", {32, 2}, 23, 0);
    pad_and_data(b, 1024);
    cases.push_back({"IQ4_XS", b, "'w' is IQ4_XS; genplug reads F32, F16, BF16, Q4_0"});
  }
  {
    auto b = header(1, 0);
    put_tensor(b, "w", {32, 2}, 12, 0);
    pad_and_data(b, 1024);
    cases.push_back({"Q4_K partial block", b, "'w': a Q4_K row of 32 values is not whole blocks of 256"});
  }
  {
    auto b = header(1, 0);
    put_tensor(b, "w", {30, 2}, 8, 0);
    pad_and_data(b, 1024);
    cases.push_back({"partial block", b, "not whole blocks of 32"});
  }
  {
    auto b = header(1, 0);
    put_tensor(b, "w", {1, 1, 1, 1, 1}, 0, 0);
    pad_and_data(b, 64);
    cases.push_back({"dims", b, "5 dimensions"});
  }
  {
    auto b = header(1, 0);
    put_tensor(b, "w", {uint64_t(1) << 40, uint64_t(1) << 40}, 0, 0);
    pad_and_data(b, 64);
    cases.push_back({"huge", b, "larger than the file"});
  }
  {
    auto b = header(1, 0);
    put_tensor(b, "w", {4}, 0, 8);
    pad_and_data(b, 64);
    cases.push_back({"misaligned", b, "not aligned"});
  }
  {
    auto b = header(1, 0);
    put_tensor(b, "w", {64}, 0, 0);
    pad_and_data(b, 64);
    cases.push_back({"past the end", b, "runs past the end"});
  }
  {
    auto b = header(2, 0);
    put_tensor(b, "a", {16}, 0, 0);
    put_tensor(b, "b", {16}, 0, 32);
    pad_and_data(b, 128);
    cases.push_back({"overlap", b, "'a' and 'b' overlap"});
  }
  {
    auto b = header(2, 0);
    put_tensor(b, "a", {4}, 0, 0);
    put_tensor(b, "a", {4}, 0, 32);
    pad_and_data(b, 64);
    cases.push_back({"duplicate tensor", b, "'a' appears twice"});
  }
  {
    auto b = header(1, 0);
    put_tensor(b, std::string(64, 'n'), {4}, 0, 0);
    pad_and_data(b, 64);
    cases.push_back({"long name", b, "a tensor name of 64 bytes (at most 63)"});
  }
  for (const Case& c : cases) {
    const std::string m = parse_error(c.bytes);
    BOOST_TEST_INFO(c.what << ": " << m);
    BOOST_TEST(contains(m, "hostile.gguf: "));
    BOOST_TEST(contains(m, c.says));
  }
}

// Metadata strings up to 64 KiB are kept; longer ones and strings inside arrays (a tokenizer's vocabulary) are
// checked and passed over, never copied.
BOOST_AUTO_TEST_CASE(long_and_array_strings_are_skipped) {
  auto b = header(0, 3);
  put_string(b, "short"), put(b, 8, 4), put_string(b, "kept");
  put_string(b, "long"), put(b, 8, 4), put_string(b, std::string(70000, 'x'));
  put_string(b, "vocab"), put(b, 9, 4), put(b, 8, 4), put(b, 2, 8), put_string(b, "a"), put_string(b, "b");
  const auto f = gguf::File::parse(b, "strings.gguf");
  BOOST_TEST(f->strings().size() == 1u);
  BOOST_TEST(f->strings().at("short") == "kept");
  BOOST_TEST(f->tensors().empty());
}

BOOST_AUTO_TEST_CASE(open_names_the_missing_file_and_the_writer_checks_sizes) {
  genplug::test::TempDir dir{"gguf"};
  try {
    gguf::File::open(dir.path / "absent.gguf");
    BOOST_FAIL("an absent file opened");
  } catch (const gguf::Error& e) {
    BOOST_TEST(contains(e.what(), "absent.gguf: cannot open"));
  }
  BOOST_CHECK_THROW(gguf::write_file(dir.path / "bad.gguf", {{"w", gguf::Type::F32, {3}, std::vector<uint8_t>(8)}}, {}),
                    gguf::Error);
  BOOST_CHECK_THROW(gguf::write_file(dir.path / "bad.gguf", {{"w", gguf::Type::Q8_0, {2, 31}, {}}}, {}), gguf::Error);
  BOOST_TEST(!std::filesystem::exists(dir.path / "bad.gguf"));
  // A file written over keeps no temporary beside it.
  gguf::write_file(dir.path / "ok.gguf", {{"w", gguf::Type::F32, {2}, std::vector<uint8_t>(8)}}, {});
  BOOST_TEST(std::distance(std::filesystem::directory_iterator(dir.path), std::filesystem::directory_iterator()) == 1);
}

// A file that cannot be mapped for want of address space (under ulimit -v) is OutOfMemory, naming the file and its
// size, not a bad file: beyond reach when larger than the limit itself (no retry under it maps the file), not when
// only larger than what is left. "GGUF" and zeros (sparse), which without the limit map and are refused for their
// version.
BOOST_AUTO_TEST_CASE(a_file_beyond_ulimit_v_is_out_of_memory_not_corrupt) {
  genplug::test::TempDir dir{"gguf"};
  const uint64_t left = uint64_t(256) << 20, mapped = genplug::test::vm_size();
  auto file_of = [&](const char* name, uint64_t size) {
    const std::filesystem::path path = dir.path / name;
    std::ofstream(path, std::ios::binary) << "GGUF";
    std::filesystem::resize_file(path, size);
    return path;
  };
  auto unmappable = [&](const std::filesystem::path& path, uint64_t size, bool beyond, const std::string& why) {
    return genplug::test::under_address_space_limit(left, [&] {
      try {
        gguf::File::open(path);
      } catch (const gguf::OutOfMemory& e) {
        return e.beyond_reach() == beyond &&
               contains(e.what(), path.string() + ": cannot map its " + std::to_string(size) + " bytes (" + why);
      }
      return false;
    });
  };
  const uint64_t within = left + std::min(mapped / 2, uint64_t(1) << 30);  // more than is left, within the limit
  const std::filesystem::path near = file_of("near.gguf", within);
  BOOST_TEST(unmappable(near, within, false, "") == 0);  // 1: another message or none; 3: another exception
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)  // their shadow maps: terabytes of VmSize
  const uint64_t beyond = mapped + left + (uint64_t(1) << 30);        // larger than the limit the child sets
  BOOST_TEST(unmappable(file_of("big.gguf", beyond), beyond, true, "more than the address-space limit (ulimit -v) of ") == 0);
#endif
  try {
    gguf::File::open(near);
    BOOST_FAIL("a file of zeros opened");
  } catch (const gguf::OutOfMemory&) {
    BOOST_FAIL("out of memory without a limit");
  } catch (const gguf::Error& e) {
    BOOST_TEST(contains(e.what(), "near.gguf"), e.what());
  }
}
