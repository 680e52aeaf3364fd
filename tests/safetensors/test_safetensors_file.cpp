#define BOOST_TEST_MODULE safetensors_file
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include <genplug/safetensors.hpp>
#include <nlohmann/json.hpp>

#include "golden.hpp"
#include "raw_file.hpp"

namespace st = genplug::safetensors;
namespace fs = std::filesystem;

namespace {

// Every golden .safetensors file (both sets).
std::vector<fs::path> golden_files() {
  std::vector<fs::path> files;
  for (const char* folder : {"flux", "vae"})
    for (const auto& e : fs::directory_iterator(genplug::test::golden(folder)))
      if (e.path().extension() == ".safetensors") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// The header as an independent reader sees it: first 8 bytes LE length, then JSON.
nlohmann::json read_header_independently(const fs::path& path, uint64_t* data_start) {
  std::ifstream in(path, std::ios::binary);
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  std::string text(n, ' ');
  in.read(text.data(), static_cast<std::streamsize>(n));
  *data_start = 8 + n;
  return nlohmann::json::parse(text);
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

BOOST_AUTO_TEST_CASE(golden_files_match_an_independent_header_read) {
  const auto files = golden_files();
  BOOST_REQUIRE_GE(files.size(), 4u);
  for (const auto& path : files) {
    BOOST_TEST_CONTEXT(path) {
      uint64_t data_start = 0;
      const auto header = read_header_independently(path, &data_start);
      const std::string bytes = read_all(path);
      const auto file = st::File::open(path);
      BOOST_TEST(file->path() == path);
      BOOST_TEST(file->file_size() == bytes.size());
      size_t expected_tensors = header.size() - (header.contains("__metadata__") ? 1 : 0);
      BOOST_TEST(file->tensors().size() == expected_tensors);
      // Data order: offsets non-decreasing.
      const uint8_t* previous = nullptr;
      for (const auto& info : file->tensors()) {
        BOOST_TEST_CONTEXT(info.name) {
          const auto& entry = header.at(info.name);
          BOOST_TEST(std::string(st::dtype_name(info.dtype)) == entry.at("dtype").get<std::string>());
          BOOST_TEST(info.shape == entry.at("shape").get<std::vector<int64_t>>(), boost::test_tools::per_element());
          const auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
          BOOST_TEST(info.nbytes == offsets[1] - offsets[0]);
          BOOST_TEST(std::memcmp(info.data, bytes.data() + data_start + offsets[0], info.nbytes) == 0);
          BOOST_TEST(info.file == file.get());
          BOOST_TEST(file->find(info.name) == &info);
          BOOST_TEST(&file->at(info.name) == &info);
          if (previous) BOOST_TEST((previous <= info.data));
          previous = info.data;
        }
      }
      if (header.contains("__metadata__"))
        BOOST_TEST((file->metadata() == header["__metadata__"].get<std::map<std::string, std::string>>()));
      BOOST_TEST(file->find("no.such.tensor") == nullptr);
    }
  }
}

BOOST_AUTO_TEST_CASE(golden_float_values_decode_like_memcpy) {
  for (const auto& path : golden_files()) {
    const auto file = st::File::open(path);
    for (const auto& info : file->tensors()) {
      if (info.dtype != st::DType::F32 && info.dtype != st::DType::F64) continue;
      const auto f32 = st::to_float32(info);
      const auto f64 = st::to_float64(info);
      BOOST_REQUIRE_EQUAL(f32.size(), static_cast<size_t>(info.numel()));
      BOOST_REQUIRE_EQUAL(f64.size(), static_cast<size_t>(info.numel()));
      for (size_t i = 0; i < f32.size(); ++i) {
        if (info.dtype == st::DType::F32) {
          float v;
          std::memcpy(&v, info.data + 4 * i, 4);
          BOOST_REQUIRE_EQUAL(f32[i], v);
          BOOST_REQUIRE_EQUAL(f64[i], static_cast<double>(v));
        } else {
          double v;
          std::memcpy(&v, info.data + 8 * i, 8);
          BOOST_REQUIRE_EQUAL(f64[i], v);
          BOOST_REQUIRE_EQUAL(f32[i], static_cast<float>(v));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(golden_bfl_shapes_follow_the_documented_config) {
  const auto info = genplug::test::read_json(genplug::test::golden("flux/flux_tiny_info.json"));
  const auto& params = info.at("meta").at("params");
  const int64_t hidden = params.at("hidden_size"), in_ch = params.at("in_channels");
  const int64_t heads = params.at("num_heads");
  const auto file = st::File::open(genplug::test::golden("flux/flux_tiny_bfl.safetensors"));
  BOOST_TEST(file->at("img_in.weight").shape == (std::vector<int64_t>{hidden, in_ch}), boost::test_tools::per_element());
  // The first block's attention, of whichever stack the set has (one may be empty): qkv (with the MLP's input
  // rows in a single block's linear1) and the per-head query norm.
  const bool doubles = params.at("depth").get<int64_t>() > 0;
  const int64_t mlp = doubles ? 0 : int64_t(params.at("mlp_ratio").get<double>() * double(hidden));
  const std::string block = doubles ? "double_blocks.0.img_attn." : "single_blocks.0.";
  BOOST_TEST(file->at(block + (doubles ? "qkv.weight" : "linear1.weight")).shape ==
                 (std::vector<int64_t>{3 * hidden + mlp, hidden}),
             boost::test_tools::per_element());
  BOOST_TEST(file->at(block + "norm.query_norm.scale").shape == (std::vector<int64_t>{hidden / heads}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(round_trip_through_write_file_is_byte_exact) {
  const auto dir = genplug::test::scratch_dir("st-roundtrip");
  for (const auto& path : golden_files()) {
    BOOST_TEST_CONTEXT(path) {
      const auto original = st::File::open(path);
      std::vector<st::TensorData> tensors;
      for (const auto& info : original->tensors()) {
        st::TensorData t = st::TensorData::borrow(info);  // pointer form for half, owned bytes for the other half
        if (tensors.size() % 2) {
          t.bytes.assign(info.data, info.data + info.nbytes);
          t.data = nullptr;
        }
        tensors.push_back(std::move(t));
      }
      std::map<std::string, std::string> metadata = original->metadata();
      metadata["genplug.test"] = "round trip";
      const fs::path copy = dir / path.filename();
      st::write_file(copy, tensors, metadata);
      BOOST_TEST(!fs::exists(copy.string() + ".tmp-" + std::to_string(::getpid())));
      const auto reread = st::File::open(copy);
      BOOST_TEST(reread->header_size() % 8 == 0u);
      BOOST_TEST((reread->metadata() == metadata));
      BOOST_REQUIRE_EQUAL(reread->tensors().size(), original->tensors().size());
      for (const auto& info : original->tensors()) {
        const auto& back = reread->at(info.name);
        BOOST_TEST((back.dtype == info.dtype));
        BOOST_TEST(back.shape == info.shape, boost::test_tools::per_element());
        BOOST_REQUIRE_EQUAL(back.nbytes, info.nbytes);
        BOOST_TEST(std::memcmp(back.data, info.data, info.nbytes) == 0);
      }
    }
  }
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(scalars_and_empty_tensors_round_trip) {
  const auto dir = genplug::test::scratch_dir("st-small");
  std::vector<st::TensorData> tensors;
  tensors.push_back(st::TensorData::from_floats("scalar", {}, {2.5f}));
  tensors.push_back(st::TensorData::from_floats("empty", {3, 0}, {}));
  st::TensorData ids;
  ids.name = "ids";
  ids.dtype = st::DType::I64;
  ids.shape = {2};
  ids.bytes.assign(16, 0);
  ids.bytes[0] = 7;
  ids.bytes[8] = 0xFF;  // 255
  tensors.push_back(ids);
  st::write_file(dir / "small.safetensors", tensors);
  const auto file = st::File::open(dir / "small.safetensors");
  BOOST_TEST(st::to_float32(file->at("scalar")) == std::vector<float>{2.5f}, boost::test_tools::per_element());
  BOOST_TEST(file->at("scalar").shape.empty());
  BOOST_TEST(file->at("empty").nbytes == 0u);
  BOOST_TEST(file->at("empty").numel() == 0);
  BOOST_TEST(st::to_float64(file->at("ids")) == (std::vector<double>{7.0, 255.0}), boost::test_tools::per_element());
  BOOST_TEST(file->metadata().empty());
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(write_file_rejects_inconsistent_tensors) {
  const auto dir = genplug::test::scratch_dir("st-write-errors");
  const fs::path out = dir / "bad.safetensors";
  auto message_of = [&](const std::vector<st::TensorData>& tensors) {
    try {
      st::write_file(out, tensors);
    } catch (const st::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  auto wrong_size = st::TensorData::from_floats("w", {2, 3}, {1, 2, 3});
  std::string m = message_of({wrong_size});
  BOOST_TEST(m.find("bad.safetensors") != std::string::npos);
  BOOST_TEST(m.find("'w'") != std::string::npos);
  m = message_of({st::TensorData::from_floats("a", {1}, {1}), st::TensorData::from_floats("a", {1}, {2})});
  BOOST_TEST(m.find("'a' given twice") != std::string::npos);
  m = message_of({st::TensorData::from_floats("__metadata__", {1}, {1})});
  BOOST_TEST(!m.empty());
  BOOST_TEST(!fs::exists(out));
  fs::remove_all(dir);
}

// The replacement rules shared with the host (genplug/internal/replaced_file.hpp): a link is written through and
// stays, a FIFO is refused and stays, and a link planted at the name of the old temporary file (the target's name
// plus ".tmp-PID") is not followed: the file it names keeps its bytes.
BOOST_AUTO_TEST_CASE(write_file_writes_through_links_and_replaces_only_regular_files) {
  const auto dir = genplug::test::scratch_dir("st-write-links");
  const std::vector<st::TensorData> tensors = {st::TensorData::from_floats("w", {2}, {1, 2})};
  const fs::path file = dir / "v1.safetensors", link = dir / "latest.safetensors", victim = dir / "victim";
  { std::ofstream(victim) << "precious"; }
  { std::ofstream(file) << "old"; }
  fs::create_symlink(file.filename(), link);
  fs::create_symlink(victim, link.string() + ".tmp-" + std::to_string(::getpid()));
  fs::create_symlink(victim, file.string() + ".tmp-" + std::to_string(::getpid()));
  st::write_file(link, tensors);
  BOOST_TEST(fs::is_symlink(fs::symlink_status(link)));
  const auto written = st::File::open(file);
  BOOST_TEST_REQUIRE(written->tensors().size() == 1u);
  BOOST_TEST(written->tensors()[0].name == "w");
  BOOST_TEST(read_all(victim) == "precious");

  const fs::path fifo = dir / "fifo", to_fifo = dir / "to_fifo.safetensors";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  fs::create_symlink(fifo, to_fifo);
  try {
    st::write_file(to_fifo, tensors);
    BOOST_ERROR("replaced a FIFO");
  } catch (const st::Error& e) {
    BOOST_TEST(std::string(e.what()).find("it is not a regular file") != std::string::npos, e.what());
  }
  BOOST_TEST(fs::is_fifo(fifo));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  BOOST_TEST(names.size() == 7u);  // victim, v1, latest, the two planted links, fifo, to_fifo
  for (const auto& name : names) BOOST_TEST(name.front() != '.', "a temporary file was left: " << name);
  fs::remove_all(dir);
}
