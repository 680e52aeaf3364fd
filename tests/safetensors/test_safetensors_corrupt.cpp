#define BOOST_TEST_MODULE safetensors_corrupt
#include <boost/test/unit_test.hpp>

#include <fstream>

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include <genplug/safetensors.hpp>

#include "address_space_limit.hpp"
#include "golden.hpp"
#include "raw_file.hpp"

namespace st = genplug::safetensors;
namespace fs = std::filesystem;
using genplug::test::raw_safetensors;

namespace {

struct Scratch {
  fs::path dir = genplug::test::scratch_dir("st-corrupt");
  ~Scratch() { fs::remove_all(dir); }
};

// Writes `bytes` as <name>.safetensors, opens it, and returns the error message ("" if it opened).
std::string open_error(const fs::path& dir, const std::string& name, const std::string& bytes) {
  const fs::path path = dir / (name + ".safetensors");
  genplug::test::write_bytes(path, bytes);
  try {
    st::File::open(path);
  } catch (const st::Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The error names the file, (where given) the tensor, and says what is wrong.
void check_error(const std::string& message, const std::string& file, const std::string& tensor,
                 const std::string& what) {
  BOOST_TEST_INFO("message: " << message);
  BOOST_TEST(!message.empty());
  BOOST_TEST(contains(message, file + ".safetensors"));
  if (!tensor.empty()) BOOST_TEST(contains(message, "'" + tensor + "'"));
  BOOST_TEST(contains(message, what));
}

const std::string kEightBytes(8, '\0');

}  // namespace

BOOST_FIXTURE_TEST_SUITE(corrupt, Scratch)

BOOST_AUTO_TEST_CASE(valid_hand_written_file_opens) {
  const auto m = open_error(dir, "valid", raw_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                                          kEightBytes));
  BOOST_TEST(m == "");
}

// Hostile input: a shape nested 100 000 deep (crashed the process by recursion), and a FIFO (blocked in open()).
BOOST_AUTO_TEST_CASE(deep_nesting_and_fifos_are_refused_at_once) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const auto m = open_error(dir, "deep", raw_safetensors(R"({"a":{"dtype":"F32","shape":)" + deep + R"(,"data_offsets":[0,0]}})", ""));
  check_error(m, "deep", "", "nests deeper than 8 levels");
  const fs::path fifo = dir / "fifo.safetensors";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  try {
    st::File::open(fifo);
    BOOST_FAIL("a FIFO opened");
  } catch (const st::Error& e) {
    BOOST_TEST(contains(e.what(), "not a regular file"), e.what());
  }
  // A sharded checkpoint's index is read the same way (it blocked in open() until a writer came).
  const fs::path index = dir / "fifo.safetensors.index.json";
  BOOST_REQUIRE(::mkfifo(index.c_str(), 0600) == 0);
  try {
    st::Checkpoint checkpoint(index);
    BOOST_FAIL("a FIFO index opened");
  } catch (const st::Error& e) {
    BOOST_TEST(contains(e.what(), index.string() + ": index is not a regular file"), e.what());
  }
}

// Hostile input found by fuzz_safetensors: an index naming a shard longer than NAME_MAX escaped as a
// std::filesystem_error ("File name too long") instead of the library's error naming the shard.
BOOST_AUTO_TEST_CASE(a_shard_name_over_name_max_is_an_error_naming_it) {
  const std::string shard = std::string(300, 'v') + ".safetensors";
  const fs::path index = dir / "long.safetensors.index.json";
  std::ofstream(index) << R"({"weight_map": {"a": ")" << shard << R"("}})";
  try {
    st::Checkpoint checkpoint(index);
    BOOST_FAIL("an index with a 312-byte shard name opened");
  } catch (const st::Error& e) {
    BOOST_TEST(contains(e.what(), "shard '" + shard + "' cannot be looked up"), e.what());
  }
}

// A NUL in a shard name would end the name the file system sees: "a.safetensors\u0000x" opened a.safetensors.
BOOST_AUTO_TEST_CASE(a_shard_name_with_a_nul_is_an_error) {
  std::ofstream(dir / "a.safetensors", std::ios::binary)
      << raw_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", kEightBytes);
  const fs::path index = dir / "nul.safetensors.index.json";
  std::ofstream(index) << R"({"weight_map": {"a": "a.safetensors\u0000x"}})";
  try {
    st::Checkpoint checkpoint(index);
    BOOST_FAIL("an index with a NUL in a shard name opened");
  } catch (const st::Error& e) {
    BOOST_TEST(contains(e.what(), "tensor 'a': shard name contains a NUL character"), e.what());
  }
}

// An empty shard name names the index's folder: it had been reported as "shard '' is missing ()".
BOOST_AUTO_TEST_CASE(an_empty_shard_name_is_an_error) {
  const fs::path index = dir / "empty-name.safetensors.index.json";
  std::ofstream(index) << R"({"weight_map": {"a": ""}})";
  try {
    st::Checkpoint checkpoint(index);
    BOOST_FAIL("an index with an empty shard name opened");
  } catch (const st::Error& e) {
    BOOST_TEST(contains(e.what(), "tensor 'a': shard name is empty"), e.what());
  }
}

// An index naming itself (or another index) as a shard: said, where the index had been read as safetensors
// ("header length 7017841271895827067 exceeds ...").
BOOST_AUTO_TEST_CASE(an_index_named_as_a_shard_is_an_error) {
  const fs::path index = dir / "self.safetensors.index.json";
  std::ofstream(index) << R"({"weight_map": {"a": "self.safetensors.index.json"}})";
  try {
    st::Checkpoint checkpoint(index);
    BOOST_FAIL("an index naming itself opened");
  } catch (const st::Error& e) {
    BOOST_TEST(contains(e.what(), "tensor 'a': shard name 'self.safetensors.index.json' names an index, not a "
                                  "safetensors shard"),
               e.what());
  }
}

// Shards lie beside their index: an absolute shard path or one through ".." is refused (an index had made the
// inspector open /etc/passwd), a subfolder is not.
BOOST_AUTO_TEST_CASE(a_shard_outside_the_index_folder_is_an_error) {
  std::ofstream(dir / "a.safetensors", std::ios::binary)
      << raw_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", kEightBytes);
  fs::create_directories(dir / "sub");
  fs::copy_file(dir / "a.safetensors", dir / "sub" / "a.safetensors", fs::copy_options::overwrite_existing);
  const fs::path index = dir / "outside.safetensors.index.json";
  const std::string absolute = (dir / "a.safetensors").string();
  for (const auto& [shard, why] : {std::pair<std::string, std::string>{absolute, "is an absolute path"},
                                   {"../" + dir.filename().string() + "/a.safetensors", "leaves the index's folder"},
                                   {"sub/../a.safetensors", "leaves the index's folder"}}) {
    std::ofstream(index) << nlohmann::json{{"weight_map", {{"a", shard}}}}.dump();
    try {
      st::Checkpoint checkpoint(index);
      BOOST_ERROR("an index with shard '" << shard << "' opened");
    } catch (const st::Error& e) {
      BOOST_TEST(contains(e.what(), "tensor 'a': shard name '" + shard + "' " + why), e.what());
    }
  }
  std::ofstream(index) << R"({"weight_map": {"a": "sub/a.safetensors"}})";
  BOOST_TEST(st::Checkpoint(index).files().size() == 1u);
}

// A GGUF file opened as safetensors (a LoRA, a VAE): said, where its magic had been read as a header length of
// 14 064 895 815 bytes.
BOOST_AUTO_TEST_CASE(a_gguf_file_is_named_as_one) {
  std::ofstream(dir / "model.gguf", std::ios::binary) << std::string("GGUF\x03\0\0\0", 8) << std::string(64, '\0');
  try {
    st::File::open(dir / "model.gguf");
    BOOST_FAIL("a GGUF file opened as safetensors");
  } catch (const st::Error& e) {
    BOOST_TEST(contains(e.what(), "model.gguf: is a GGUF file, not safetensors"), e.what());
  }
}

BOOST_AUTO_TEST_CASE(file_shorter_than_the_length_field) {
  check_error(open_error(dir, "tiny", "\x05\x00\x00"), "tiny", "", "shorter than the 8-byte");
  check_error(open_error(dir, "zero", ""), "zero", "", "shorter than the 8-byte");
}

BOOST_AUTO_TEST_CASE(header_length_beyond_the_file) {
  std::string bytes = genplug::test::u64_le(1000) + "{}";
  check_error(open_error(dir, "long_header", bytes), "long_header", "", "past the end");
}

BOOST_AUTO_TEST_CASE(header_length_over_the_cap) {
  std::string bytes = genplug::test::u64_le(100'000'001) + "{}";
  check_error(open_error(dir, "huge_header", bytes), "huge_header", "", "100,000,000");
  bytes = genplug::test::u64_le(~uint64_t{0}) + "{}";
  check_error(open_error(dir, "max_header", bytes), "max_header", "", "limit");
}

BOOST_AUTO_TEST_CASE(header_is_not_json) {
  check_error(open_error(dir, "bad_json", raw_safetensors(R"({"a": {"dtype": "F32", )", "")), "bad_json", "",
              "not valid JSON");
  // Valid UTF-8, and JSON in form, but a number no double holds: said so (it had been called "not valid UTF-8").
  check_error(open_error(dir, "overflow", raw_safetensors(R"({"__metadata__": {"a": 1e400}})", "")), "overflow", "",
              "number overflow");
  // A lone continuation byte inside a string is not UTF-8.
  check_error(open_error(dir, "bad_utf8", raw_safetensors("{\"a\xff\": 1}", "")), "bad_utf8", "", "UTF-8");
  // A header padded with NUL bytes: nlohmann ends the text at the first (the reference reader refuses it).
  check_error(open_error(dir, "nul_padded", raw_safetensors(std::string("{}") + '\0' + "  garbage", "")), "nul_padded",
              "", "a NUL byte");
}

BOOST_AUTO_TEST_CASE(header_is_not_an_object) {
  check_error(open_error(dir, "array_header", raw_safetensors("[1, 2, 3]", "")), "array_header", "", "JSON object");
  check_error(open_error(dir, "entry_not_object", raw_safetensors(R"({"w": [1, 2]})", "")), "entry_not_object", "w",
              "not an object");
}

BOOST_AUTO_TEST_CASE(unknown_dtype) {
  check_error(open_error(dir, "dtype", raw_safetensors(R"({"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})",
                                                       std::string(4, '\0'))),
              "dtype", "w", "'F33'");
  check_error(open_error(dir, "dtype_type", raw_safetensors(R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})",
                                                            std::string(4, '\0'))),
              "dtype_type", "w", "dtype");
}

BOOST_AUTO_TEST_CASE(shape_times_dtype_differs_from_byte_length) {
  const auto m = open_error(dir, "size", raw_safetensors(R"({"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}})",
                                                         kEightBytes));
  check_error(m, "size", "w", "needs 12 bytes");
}

BOOST_AUTO_TEST_CASE(bad_shape_and_offset_values) {
  check_error(open_error(dir, "neg_shape", raw_safetensors(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})",
                                                           kEightBytes)),
              "neg_shape", "w", "non-negative integer");
  check_error(open_error(dir, "float_shape", raw_safetensors(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})",
                                                             kEightBytes)),
              "float_shape", "w", "non-negative integer");
  check_error(open_error(dir, "reversed", raw_safetensors(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}})",
                                                          kEightBytes)),
              "reversed", "w", "begin > end");
  check_error(open_error(dir, "three_offsets", raw_safetensors(R"({"w":{"dtype":"U8","shape":[8],"data_offsets":[0,8,8]}})",
                                                               kEightBytes)),
              "three_offsets", "w", "data_offsets");
  check_error(open_error(dir, "no_shape", raw_safetensors(R"({"w":{"dtype":"U8","data_offsets":[0,8]}})", kEightBytes)),
              "no_shape", "w", "shape");
  // numel * size overflows 64 bits: must be rejected, not wrapped around to a small number.
  check_error(open_error(dir, "overflow",
                         raw_safetensors(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", "")),
              "overflow", "w", "2^64");
}

BOOST_AUTO_TEST_CASE(offsets_outside_the_data_section) {
  const auto m = open_error(dir, "bounds", raw_safetensors(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                                                           kEightBytes));
  check_error(m, "bounds", "w", "data section");
}

// An offset past 2^64 - 1 (JSON reads it as a float): the message names which of the two it is.
BOOST_AUTO_TEST_CASE(an_offset_past_two_to_the_64_is_named) {
  const auto m = open_error(dir, "huge-end", raw_safetensors(R"({"w":{"dtype":"F32","shape":[1],)"
                                                             R"("data_offsets":[0,18446744073709551616]}})",
                                                             kEightBytes));
  check_error(m, "huge-end", "w", ": its end is not a whole number from 0 to 2^64 - 1");
}

BOOST_AUTO_TEST_CASE(overlapping_tensors) {
  const auto m = open_error(
      dir, "overlap",
      raw_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                      std::string(12, '\0')));
  check_error(m, "overlap", "b", "overlap");
  BOOST_TEST(contains(m, "'a'"));
  // A large tensor covering two small ones: the second small one overlaps too.
  const auto nested = open_error(
      dir, "nested",
      raw_safetensors(R"({"big":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},)"
                      R"("x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})",
                      std::string(16, '\0')));
  check_error(nested, "nested", "x", "overlap");
}

BOOST_AUTO_TEST_CASE(gaps_between_tensors_are_allowed) {
  const auto m = open_error(
      dir, "gap",
      raw_safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                      std::string(12, '\0')));
  BOOST_TEST(m == "");
}

BOOST_AUTO_TEST_CASE(duplicate_tensor_names) {
  const auto m = open_error(
      dir, "dup",
      raw_safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                      kEightBytes));
  check_error(m, "dup", "a", "twice");
  // A key doubled inside a tensor's entry: which dtype would count is as ambiguous.
  const auto inner = open_error(
      dir, "dup_inner",
      raw_safetensors(R"({"a":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}})", kEightBytes));
  BOOST_TEST(inner.find("key 'dtype' appears twice in one object of the header") != std::string::npos, inner);
}

BOOST_AUTO_TEST_CASE(metadata_must_be_strings) {
  check_error(open_error(dir, "meta", raw_safetensors(R"({"__metadata__":{"format":1}})", "")), "meta", "", "format");
  check_error(open_error(dir, "meta_array", raw_safetensors(R"({"__metadata__":["pt"]})", "")), "meta_array", "",
              "__metadata__");
}

BOOST_AUTO_TEST_CASE(truncated_golden_file_names_the_cut_tensor) {
  const fs::path source = genplug::test::golden("flux/flux_tiny_bfl.safetensors");
  std::ifstream in(source, std::ios::binary);
  std::string bytes(std::istreambuf_iterator<char>(in), {});
  const auto whole = st::File::open(source);
  const std::string last = whole->tensors().back().name;  // data order: the last tensor is cut
  bytes.resize(bytes.size() - 3);
  check_error(open_error(dir, "truncated", bytes), "truncated", last, "data section");
  // Cut inside the header: the length field now runs past the end.
  bytes.resize(100);
  check_error(open_error(dir, "truncated_header", bytes), "truncated_header", "", "past the end");
}

BOOST_AUTO_TEST_CASE(missing_file_and_folder) {
  try {
    st::File::open(dir / "absent.safetensors");
    BOOST_FAIL("opened a missing file");
  } catch (const st::Error& e) {
    BOOST_TEST(contains(e.what(), "absent.safetensors"));
  }
  BOOST_CHECK_THROW(st::File::open(dir), st::Error);
}

BOOST_AUTO_TEST_CASE(at_names_file_and_tensor) {
  const auto file = st::File::open(genplug::test::golden("flux/flux_tiny_bfl.safetensors"));
  // A block one past the golden depth.
  const int64_t depth = genplug::test::read_json(genplug::test::golden("flux/flux_tiny_info.json"))["meta"]["params"]["depth"];
  const std::string absent = "double_blocks." + std::to_string(depth) + ".img_attn.qkv.weight";
  try {
    file->at(absent);
    BOOST_FAIL("found a tensor that is not there");
  } catch (const st::Error& e) {
    BOOST_TEST(contains(e.what(), "flux_tiny_bfl.safetensors"));
    BOOST_TEST(contains(e.what(), "'" + absent + "'"));
  }
}

// A file that cannot be mapped for want of address space (under ulimit -v) is OutOfMemory, naming the file and its
// size: it may be sound, so it is not called corrupt. Larger than the limit itself it is beyond reach, and says so
// (no retry maps it); within the limit, though beyond what is left, it is not (another attempt may map it).
// Without the limit the same files (zeros, sparse) map, and are refused for their header.
BOOST_AUTO_TEST_CASE(a_file_beyond_ulimit_v_is_out_of_memory_not_corrupt) {
  const uint64_t left = uint64_t(256) << 20, mapped = genplug::test::vm_size();
  auto file_of = [&](const char* name, uint64_t size) {
    const fs::path path = dir / name;
    genplug::test::write_bytes(path, "");
    fs::resize_file(path, size);
    return path;
  };
  // 0 when, under a limit leaving `left`, opening `path` is OutOfMemory, beyond reach or not, with the message;
  // 1: another message or none; 3: another exception.
  auto unmappable = [&](const fs::path& path, uint64_t size, bool beyond, const std::string& why) {
    return genplug::test::under_address_space_limit(left, [&] {
      try {
        st::File::open(path);
      } catch (const st::OutOfMemory& e) {
        return e.beyond_reach() == beyond &&
               contains(e.what(), path.string() + ": cannot memory-map its " + std::to_string(size) + " bytes: " + why);
      }
      return false;
    });
  };
  const uint64_t within = left + std::min(mapped / 2, uint64_t(1) << 30);  // more than is left, within the limit
  const fs::path near = file_of("near.safetensors", within);
  BOOST_TEST(unmappable(near, within, false, "") == 0);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)  // their shadow maps: terabytes of VmSize
  const uint64_t beyond = mapped + left + (uint64_t(1) << 30);        // larger than the limit the child sets
  BOOST_TEST(unmappable(file_of("big.safetensors", beyond), beyond, true,
                        "more than the address-space limit (ulimit -v) of ") == 0);
#endif
  try {
    st::File::open(near);
    BOOST_FAIL("a file of zeros opened");
  } catch (const st::OutOfMemory& e) {
    BOOST_FAIL(std::string("out of memory without a limit: ") + e.what());
  } catch (const st::Error& e) {
    BOOST_TEST(contains(e.what(), "header does not start with a JSON object"), e.what());
  }
}

BOOST_AUTO_TEST_SUITE_END()
