#define BOOST_TEST_MODULE safetensors_checkpoint
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <fstream>

#include <genplug/safetensors.hpp>
#include <nlohmann/json.hpp>

#include "golden.hpp"
#include "raw_file.hpp"

namespace st = genplug::safetensors;
namespace fs = std::filesystem;

namespace {

// The golden BFL transformer split into two shards plus an index, in a fresh folder.
struct ShardedGolden {
  fs::path dir = genplug::test::scratch_dir("st-checkpoint");
  fs::path source = genplug::test::golden("flux/flux_tiny_bfl.safetensors");
  std::shared_ptr<const st::File> original = st::File::open(source);
  nlohmann::json weight_map = nlohmann::json::object();

  ShardedGolden() {
    std::vector<st::TensorData> shard[2];
    size_t i = 0;
    for (const auto& info : original->tensors()) {
      st::TensorData t = st::TensorData::borrow(info);
      const int which = (i++ * 2 < original->tensors().size()) ? 0 : 1;
      shard[which].push_back(t);
      weight_map[info.name] = shard_name(which);
    }
    for (int s = 0; s < 2; ++s) st::write_file(dir / shard_name(s), shard[s], {{"format", "pt"}});
    write_index(weight_map);
  }
  ~ShardedGolden() { fs::remove_all(dir); }

  static std::string shard_name(int s) { return "model-0000" + std::to_string(s + 1) + "-of-00002.safetensors"; }
  fs::path index_path() const { return dir / "model.safetensors.index.json"; }
  void write_index(const nlohmann::json& map) const {
    std::ofstream(index_path()) << nlohmann::json{{"metadata", {{"total_size", 1}}}, {"weight_map", map}}.dump(1);
  }
  std::string open_error(const fs::path& p) const {
    try {
      st::Checkpoint checkpoint(p);
    } catch (const st::Error& e) {
      return e.what();
    }
    return "";
  }
};

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Same names, dtypes, shapes and bytes as the unsharded golden file.
void check_matches(const st::Checkpoint& checkpoint, const st::File& original) {
  BOOST_REQUIRE_EQUAL(checkpoint.tensors().size(), original.tensors().size());
  uint64_t total = 0;
  for (const auto& info : original.tensors()) {
    const auto& got = checkpoint.at(info.name);
    BOOST_TEST((got.dtype == info.dtype));
    BOOST_TEST(got.shape == info.shape, boost::test_tools::per_element());
    BOOST_REQUIRE_EQUAL(got.nbytes, info.nbytes);
    BOOST_TEST(std::memcmp(got.data, info.data, info.nbytes) == 0);
    total += info.nbytes;
  }
  BOOST_TEST(checkpoint.total_bytes() == total);
  for (size_t i = 1; i < checkpoint.tensors().size(); ++i)
    BOOST_TEST((checkpoint.tensors()[i - 1].name < checkpoint.tensors()[i].name));
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(checkpoint, ShardedGolden)

BOOST_AUTO_TEST_CASE(single_file) {
  st::Checkpoint checkpoint(source);
  BOOST_TEST(checkpoint.files().size() == 1u);
  check_matches(checkpoint, *original);
  BOOST_TEST(checkpoint.find("absent") == nullptr);
}

BOOST_AUTO_TEST_CASE(sharded_index) {
  st::Checkpoint checkpoint(index_path());
  BOOST_TEST(checkpoint.files().size() == 2u);
  check_matches(checkpoint, *original);
  BOOST_TEST(checkpoint.metadata().at("format") == "pt");
  BOOST_TEST(checkpoint.metadata().at("total_size") == "1");
  // Tensors come from both shards.
  BOOST_TEST(checkpoint.tensors().front().file != checkpoint.tensors().back().file);
}

BOOST_AUTO_TEST_CASE(folder_with_index) {
  st::Checkpoint checkpoint(dir);
  BOOST_TEST(checkpoint.files().size() == 2u);
  check_matches(checkpoint, *original);
}

BOOST_AUTO_TEST_CASE(folder_without_index_reads_every_file) {
  fs::remove(index_path());
  st::Checkpoint checkpoint(dir);
  BOOST_TEST(checkpoint.files().size() == 2u);
  check_matches(checkpoint, *original);
}

BOOST_AUTO_TEST_CASE(files_outlive_the_checkpoint_copies) {
  const st::TensorInfo* info = nullptr;
  std::vector<uint8_t> expected;
  std::shared_ptr<const st::File> keep;
  {
    st::Checkpoint checkpoint(index_path());
    st::Checkpoint copy = checkpoint;
    info = &copy.at("img_in.weight");
    expected.assign(info->data, info->data + info->nbytes);
    keep = info->file->shared_from_this();
  }
  // The mapping is owned by `keep` now; reading it must still give the same bytes.
  const auto& again = keep->at("img_in.weight");
  BOOST_TEST(std::memcmp(again.data, expected.data(), expected.size()) == 0);
}

BOOST_AUTO_TEST_CASE(missing_shard_names_index_and_shard) {
  fs::remove(dir / shard_name(1));
  const auto m = open_error(index_path());
  BOOST_TEST_INFO(m);
  BOOST_TEST(contains(m, "model.safetensors.index.json"));
  BOOST_TEST(contains(m, shard_name(1)));
  BOOST_TEST(contains(m, "missing"));
}

BOOST_AUTO_TEST_CASE(listed_tensor_absent_from_its_shard) {
  // A block one past the golden depth: listed in the index, in no shard.
  const int64_t depth = genplug::test::read_json(genplug::test::golden("flux/flux_tiny_info.json"))["meta"]["params"]["depth"];
  const std::string absent = "double_blocks." + std::to_string(depth) + ".img_mod.lin.weight";
  auto map = weight_map;
  BOOST_REQUIRE(!map.contains(absent));
  map[absent] = shard_name(0);
  write_index(map);
  const auto m = open_error(index_path());
  BOOST_TEST_INFO(m);
  BOOST_TEST(contains(m, "model.safetensors.index.json"));
  BOOST_TEST(contains(m, "'" + absent + "'"));
  BOOST_TEST(contains(m, shard_name(0)));
}

// A shard is read whole, as transformers and diffusers read it: a tensor the weight_map leaves out is there all the
// same (it had been dropped, and the model then missed it), and one that two shards hold is refused, not taken
// from the shard the map names while the other copy went unseen.
BOOST_AUTO_TEST_CASE(shards_are_read_whole_and_a_tensor_in_two_is_refused) {
  auto map = weight_map;
  const std::string left_out = original->tensors().front().name;  // in shard 0: the shards split the data order
  map.erase(left_out);
  write_index(map);
  check_matches(st::Checkpoint(index_path()), *original);

  write_index(weight_map);
  auto copy_of = [](const st::TensorInfo& info) {  // not borrowed: shard 1 is rewritten from its own tensors
    st::TensorData t = st::TensorData::borrow(info);
    t.bytes.assign(info.data, info.data + info.nbytes);
    t.data = nullptr;
    t.size = 0;
    return t;
  };
  std::vector<st::TensorData> second;
  const auto shard1 = st::File::open(dir / shard_name(1));
  for (const auto& info : shard1->tensors()) second.push_back(copy_of(info));
  BOOST_REQUIRE(weight_map[left_out] == shard_name(0));
  st::TensorData twin = copy_of(original->at(left_out));  // another value under shard 0's name
  std::fill(twin.bytes.begin(), twin.bytes.end(), uint8_t(0));
  second.push_back(twin);
  st::write_file(dir / shard_name(1), second, {{"format", "pt"}});
  const auto m = open_error(index_path());
  BOOST_TEST_INFO(m);
  BOOST_TEST(contains(m, "'" + left_out + "' appears in both"));
  BOOST_TEST(contains(m, shard_name(0)));
  BOOST_TEST(contains(m, shard_name(1)));
}

BOOST_AUTO_TEST_CASE(broken_index_files) {
  std::ofstream(index_path()) << "{\"weight_map\": ";
  BOOST_TEST(contains(open_error(index_path()), "not valid JSON"));
  std::ofstream(index_path()) << "{\"metadata\": {}}";
  BOOST_TEST(contains(open_error(index_path()), "weight_map"));
  std::ofstream(index_path()) << "{\"weight_map\": {\"a\": 3}}";
  const auto m = open_error(index_path());
  BOOST_TEST(contains(m, "'a'"));
  BOOST_TEST(contains(m, "model.safetensors.index.json"));
  // A tensor listed twice, in two shards: JSON would keep the second silently.
  const std::string tensor = weight_map.begin().key();
  std::ofstream(index_path()) << "{\"weight_map\": {\"" << tensor << "\": \"" << shard_name(0) << "\", \"" << tensor
                              << "\": \"" << shard_name(1) << "\"}}";
  const auto twice = open_error(index_path());
  BOOST_TEST(contains(twice, "model.safetensors.index.json: index gives the key '" + tensor + "' twice in one object"),
             twice);
}

BOOST_AUTO_TEST_CASE(a_corrupt_shard_is_reported_with_its_name) {
  genplug::test::write_bytes(dir / shard_name(1), genplug::test::raw_safetensors("{\"x\": 5}", ""));
  const auto m = open_error(index_path());
  BOOST_TEST(contains(m, shard_name(1)));
  BOOST_TEST(contains(m, "'x'"));
}

BOOST_AUTO_TEST_CASE(same_tensor_in_two_files_of_a_folder) {
  fs::remove(index_path());
  fs::copy_file(source, dir / "extra.safetensors");
  const auto m = open_error(dir);
  BOOST_TEST_INFO(m);
  BOOST_TEST(contains(m, "appears in both"));
  BOOST_TEST(contains(m, "extra.safetensors"));
}

BOOST_AUTO_TEST_CASE(empty_folder_and_two_indexes) {
  const fs::path empty = dir / "empty";
  fs::create_directories(empty);
  BOOST_TEST(contains(open_error(empty), "no *.safetensors"));
  fs::copy_file(index_path(), dir / "other.safetensors.index.json");
  BOOST_TEST(contains(open_error(dir), "more than one"));
}

BOOST_AUTO_TEST_SUITE_END()
