// `genplug inspect` end to end: the CLI asks the inspector plugins (org.genplug.flux.inspect here) and prints
// their report; it knows no model format itself.
#define BOOST_TEST_MODULE inspect_cli
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include <genplug/gguf.hpp>
#include <genplug/safetensors.hpp>
#include <nlohmann/json.hpp>

#include "gguf_of_safetensors.hpp"
#include "golden.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"

namespace st = genplug::safetensors;
namespace gguf = genplug::gguf;

namespace {

// Runs `genplug <args>`; returns stdout and sets the exit status.
std::string run_cli(const std::string& args, int* status) {
  const std::string command = std::string("\"") + GENPLUG_CLI + "\" " + args + " 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  BOOST_REQUIRE(pipe);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe.get())) > 0) out.append(buf, n);
  const int rc = pclose(pipe.release());
  *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

nlohmann::json inspect_json(const std::string& file) {
  int status = 0;
  const std::string out = run_cli("inspect --json \"" + genplug::test::golden(file).string() + "\"", &status);
  BOOST_REQUIRE_EQUAL(status, 0);
  return nlohmann::json::parse(out);
}

}  // namespace

BOOST_AUTO_TEST_CASE(transformer_files_report_layout_and_the_golden_config) {
  const auto params = genplug::test::read_json(genplug::test::golden("flux/flux_tiny_info.json")).at("meta").at("params");
  for (const char* file : {"flux/flux_tiny_bfl.safetensors", "flux/flux_tiny_diffusers.safetensors"}) {
    BOOST_TEST_CONTEXT(file) {
      const auto j = inspect_json(file);
      const auto ckpt = st::Checkpoint(genplug::test::golden(file));
      BOOST_TEST(j.at("tensor_count").get<size_t>() == ckpt.tensors().size());
      BOOST_TEST(j.at("total_bytes").get<uint64_t>() == ckpt.total_bytes());
      BOOST_TEST(j.at("tensors").size() == ckpt.tensors().size());
      BOOST_TEST(j.at("format").get<std::string>() == "safetensors");
      BOOST_TEST(contains(j.at("summary").get<std::string>(), "flux-transformer"));
      BOOST_TEST(j.at("inspector").at("id").get<std::string>() == "org.genplug.flux.inspect");
      BOOST_TEST(j.at("inspector").at("score").get<int>() == 90);
      BOOST_REQUIRE_EQUAL(j.at("components").size(), 1u);
      const auto& c = j["components"][0];
      BOOST_TEST(c.at("kind").get<std::string>() == "flux-transformer");
      BOOST_TEST(c.at("layout").get<std::string>() ==
                 (std::string(file).find("diffusers") != std::string::npos ? "diffusers" : "bfl"));
      for (const char* field : {"in_channels", "out_channels", "vec_in_dim", "context_in_dim", "hidden_size",
                                "num_heads", "depth", "depth_single_blocks", "qkv_bias", "guidance_embed"})
        BOOST_TEST(c.at("config").at(field) == params.at(field), field);
    }
  }
}

BOOST_AUTO_TEST_CASE(vae_and_unknown_files) {
  const auto vae = inspect_json("vae/vae_tiny_bfl.safetensors");
  const auto params = genplug::test::read_json(genplug::test::golden("vae/vae_tiny_info.json")).at("params");
  BOOST_REQUIRE_EQUAL(vae.at("components").size(), 1u);
  BOOST_TEST(vae["components"][0].at("kind").get<std::string>() == "autoencoder");
  BOOST_TEST(vae["components"][0]["config"].at("z_channels") == params.at("z_channels"));
  BOOST_TEST(vae["components"][0]["config"].at("ch") == params.at("ch"));
  BOOST_TEST(vae["components"][0]["config"].at("ch_mult") == params.at("ch_mult"));
  const auto io = inspect_json("flux/flux_tiny_io.safetensors");
  BOOST_TEST(io.at("components").empty());
  BOOST_TEST(io.at("inspector").at("score").get<int>() == 10);  // valid safetensors, no FLUX keys
  BOOST_TEST(io.at("notes").size() == 1u);
}

BOOST_AUTO_TEST_CASE(text_output_and_errors) {
  int status = 0;
  const std::string bfl = "\"" + genplug::test::golden("flux/flux_tiny_bfl.safetensors").string() + "\"";
  const std::string text = run_cli("inspect " + bfl, &status);
  BOOST_TEST(status == 0);
  BOOST_TEST(text.find("layout: flux-transformer (bfl keys") != std::string::npos);
  const auto info = genplug::test::read_json(genplug::test::golden("flux/flux_tiny_info.json"));
  const auto& params = info.at("meta").at("params");
  const std::string qkv = genplug::test::flux_first_attention_module(params.at("depth")) + ".weight";
  BOOST_TEST(text.find(qkv) != std::string::npos);
  BOOST_TEST(contains(text, "format: safetensors (inspector org.genplug.flux.inspect)"), text);
  BOOST_TEST(contains(text, "\n  config: "), text);
  BOOST_TEST(contains(text, " hidden_size="), text);
  const std::string summary = run_cli("inspect --summary " + bfl, &status);  // no tensor table
  BOOST_TEST(status == 0);
  BOOST_TEST(!contains(summary, qkv), summary);
  const auto j = nlohmann::json::parse(run_cli("inspect --json --summary " + bfl, &status));
  BOOST_TEST(!j.contains("tensors"));
  run_cli("inspect /nonexistent/genplug-test.safetensors", &status);
  BOOST_TEST(status == 5);  // runtime error, message on stderr
}

// A file no inspector knows: exit 5, one line saying so and naming the inspectors tried.
BOOST_AUTO_TEST_CASE(a_file_no_inspector_knows_is_a_clear_error) {
  genplug::test::TempDir dir("inspect");
  const auto text = dir.path / "notes.txt";
  std::ofstream(text) << "not a checkpoint\n";
  const auto r = genplug::test::run_process({GENPLUG_CLI, "inspect", text.string()});
  BOOST_TEST(r.exit_code == 5);
  BOOST_TEST(r.out.empty(), r.out);
  BOOST_TEST(contains(r.err, "genplug: error: " + text.string() + ": no inspector recognises this file"), r.err);
  BOOST_TEST(contains(r.err, "org.genplug.flux.inspect"), r.err);
  // A folder without checkpoints is no different, said of a folder.
  const auto folder = genplug::test::run_process({GENPLUG_CLI, "inspect", dir.path.string()});
  BOOST_TEST(folder.exit_code == 5);
  BOOST_TEST(contains(folder.err, "no inspector recognises this folder"), folder.err);
  // A library that could not be loaded is named (under -q, which hides the scan's warnings): it may hold the
  // inspector that knows the file.
  const auto plugins = dir.path / "plugins";
  std::filesystem::create_directory(plugins);
  std::ofstream(plugins / "libgenplug_junk.so") << "not an ELF file";
  const auto junk = genplug::test::run_process(
      {GENPLUG_CLI, "-q", "inspect", "--plugin-path", plugins.string(), text.string()});
  BOOST_TEST(junk.exit_code == 5);
  BOOST_TEST(contains(junk.err, "; not loaded: " + (plugins / "libgenplug_junk.so").string() + ": cannot load library"),
             junk.err);
  // A path that cannot be reached says why; an empty one is a usage error.
  std::filesystem::create_symlink(dir.path / "loop-b", dir.path / "loop-a");
  std::filesystem::create_symlink(dir.path / "loop-a", dir.path / "loop-b");
  const auto loop = genplug::test::run_process({GENPLUG_CLI, "inspect", (dir.path / "loop-a").string()});
  BOOST_TEST(loop.exit_code == 5);
  BOOST_TEST(contains(loop.err, "loop-a: Too many levels of symbolic links"), loop.err);
  const auto empty = genplug::test::run_process({GENPLUG_CLI, "inspect", ""});
  BOOST_TEST(empty.exit_code == 2);
  BOOST_TEST(contains(empty.err, "an empty path names no file"), empty.err);
}

// A corrupt .safetensors file is claimed by its name, and the inspector says what is wrong with it: exit 5.
BOOST_AUTO_TEST_CASE(a_corrupt_checkpoint_is_named_with_its_fault) {
  genplug::test::TempDir dir("inspect");
  const auto bad = dir.path / "broken.safetensors";
  std::ofstream(bad) << "abc";
  const auto r = genplug::test::run_process({GENPLUG_CLI, "inspect", bad.string()});
  BOOST_TEST(r.exit_code == 5);
  BOOST_TEST(contains(r.err, "org.genplug.flux.inspect: inspect: file error: " + bad.string() + ": file is 3 bytes"),
             r.err);
}

// A checkpoint larger than the CLI's ulimit -v cannot be mapped by any retry of the command: the probe says so
// (GENPLUG_E_IO, inspector.h) and the CLI exits 5 (the file cannot be read), naming the limit, where it had been
// 75 (out of memory, worth a retry), which a farm would have retried forever. A sparse file of 3 GiB (zeros past its first byte), the limit 1 GiB: enough for the
// libraries. Skipped under a sanitizer, whose shadow memory needs more address space than any such limit leaves.
BOOST_AUTO_TEST_CASE(a_checkpoint_beyond_ulimit_v_is_permanent) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  BOOST_TEST_MESSAGE("skipped under a sanitizer (ulimit -v)");
#else
  genplug::test::TempDir dir("inspect");
  const auto big = dir.path / "big.safetensors";
  std::ofstream(big, std::ios::binary).put('\0');
  std::filesystem::resize_file(big, std::uintmax_t(3) << 30);
  const auto r = genplug::test::run_process(
      {"/bin/sh", "-c", "ulimit -v 1048576 && exec \"$0\" -q inspect \"$1\"", GENPLUG_CLI, big.string()});
  BOOST_TEST(r.exit_code == 5, r.err);
  BOOST_TEST(contains(r.err, "org.genplug.flux.inspect: probe: file error: " + big.string() +
                                ": cannot memory-map its 3221225472 bytes: more than the address-space limit (ulimit -v) of 1073741824 bytes"),
             r.err);
  BOOST_TEST(r.out.empty(), r.out);
#endif
}

// A GGUF file (what ComfyUI-GGUF and stable-diffusion.cpp users have): the golden transformer written with its
// matrices as Q8_0 is reported like the safetensors file (layout, inferred config), with GGUF's types; a corrupt
// one is claimed by its magic and named with its fault.
BOOST_AUTO_TEST_CASE(gguf_files_report_types_and_the_golden_config) {
  genplug::test::TempDir dir("inspect");
  const auto bfl = st::File::open(genplug::test::golden("flux/flux_tiny_bfl.safetensors"));
  std::size_t q8 = 0;
  for (const st::TensorInfo& t : bfl->tensors()) q8 += t.shape.size() == 2 && t.shape[1] % gguf::kQ8Block == 0;
  const auto file = dir.path / "flux-q8_0.gguf";
  genplug::test::write_gguf_of(*bfl, file);
  int status = 0;
  const auto j = nlohmann::json::parse(run_cli("inspect --json \"" + file.string() + "\"", &status));
  BOOST_REQUIRE_EQUAL(status, 0);
  BOOST_TEST(j.at("format").get<std::string>() == "gguf");
  BOOST_TEST(j.at("inspector").at("score").get<int>() == 90);
  BOOST_TEST(j.at("tensor_count").get<size_t>() == bfl->tensors().size());
  BOOST_TEST(j.at("metadata").at("general.architecture").get<std::string>() == "flux");
  if (q8) BOOST_TEST(j.at("dtypes").at("Q8_0").at("tensors").get<size_t>() == q8);
  BOOST_REQUIRE_EQUAL(j.at("components").size(), 1u);
  BOOST_TEST(j["components"][0].at("layout").get<std::string>() == "bfl");
  const auto params = genplug::test::read_json(genplug::test::golden("flux/flux_tiny_info.json")).at("meta").at("params");
  for (const char* field : {"hidden_size", "num_heads", "depth", "depth_single_blocks", "guidance_embed"})
    BOOST_TEST(j["components"][0].at("config").at(field) == params.at(field), field);

  const auto bad = dir.path / "broken.gguf";
  std::ofstream(bad) << "GGUF\x03";
  const auto r = genplug::test::run_process({GENPLUG_CLI, "inspect", bad.string()});
  BOOST_TEST(r.exit_code == 5);
  BOOST_TEST(contains(r.err, bad.string() + ": truncated: the version"), r.err);
}

// Names and metadata come from the file: a newline or an escape sequence inside them is printed as an escape, so
// it can neither start a report line of its own nor move the terminal's cursor.
BOOST_AUTO_TEST_CASE(control_characters_in_names_and_metadata_cannot_fake_report_lines) {
  genplug::test::TempDir dir("inspect");
  const auto file = dir.path / "hostile.safetensors";
  st::write_file(file, {st::TensorData::from_floats("w\nmetadata: forged = 1", {1}, {0.5f})},
                 {{"note\rkey", "line one\nmetadata: forged = 2\x1b[2J"}});
  const auto r = genplug::test::run_process({GENPLUG_CLI, "inspect", file.string()});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(!contains(r.out, "\nmetadata: forged"), r.out);
  BOOST_TEST(r.out.find('\x1b') == std::string::npos, r.out);
  BOOST_TEST(r.out.find('\r') == std::string::npos, r.out);
  BOOST_TEST(contains(r.out, "w\\nmetadata: forged = 1"), r.out);
  BOOST_TEST(contains(r.out, "metadata: note\\rkey = line one\\nmetadata: forged = 2\\x1b[2J"), r.out);
}

// The inspector passes the contract checks that `genplug validate` makes (the model itself is not created).
BOOST_AUTO_TEST_CASE(validate_checks_the_inspector) {
  const auto r = genplug::test::run_process(
      {GENPLUG_CLI, "validate", (genplug::test::plugin_build_dir() / "libgenplug_flux_inspect.so").string()});
  BOOST_TEST(r.exit_code == 0, r.out << r.err);
  BOOST_TEST(!contains(r.out, "FAIL"), r.out);
  BOOST_TEST(contains(r.out, "PASS inspector org.genplug.flux.inspect: create {} and probe a missing file"), r.out);
}

// A LoRA file: format, modules, rank, alpha and the model it fits, from the golden transformer's shapes.
BOOST_AUTO_TEST_CASE(lora_files_report_format_rank_alpha_and_fit) {
  const auto params = genplug::test::read_json(genplug::test::golden("flux/flux_tiny_info.json")).at("meta").at("params");
  const int64_t hidden = params.at("hidden_size"), depth = params.at("depth"), singles = params.at("depth_single_blocks");
  const auto bfl = st::File::open(genplug::test::golden("flux/flux_tiny_bfl.safetensors"));
  const int64_t rank = 3;
  auto zeros = [](int64_t n) { return std::vector<float>(size_t(n), 0.0f); };
  // A kohya module on the last block of each stack the set has (a set may lack one).
  std::vector<std::pair<std::string, std::vector<int64_t>>> modules;  // kohya key, the weight's shape
  if (depth > 0) {
    const std::string d = std::to_string(depth - 1);
    modules.emplace_back("lora_unet_double_blocks_" + d + "_img_attn_qkv",
                         bfl->at("double_blocks." + d + ".img_attn.qkv.weight").shape);
  }
  if (singles > 0) {
    const std::string s = std::to_string(singles - 1);
    modules.emplace_back("lora_unet_single_blocks_" + s + "_linear1",
                         bfl->at("single_blocks." + s + ".linear1.weight").shape);
  }
  auto module_tensors = [&](const std::string& k, const std::vector<int64_t>& w, float alpha) {
    using T = st::TensorData;
    return std::vector<T>{T::from_floats(k + ".lora_down.weight", {rank, w[1]}, zeros(rank * w[1])),
                          T::from_floats(k + ".lora_up.weight", {w[0], rank}, zeros(w[0] * rank)),
                          T::from_floats(k + ".alpha", {}, {alpha})};
  };
  const auto path = std::filesystem::temp_directory_path() / ("genplug_inspect_lora_" + std::to_string(::getpid()) + ".safetensors");
  std::vector<st::TensorData> tensors = {
      st::TensorData::from_floats("lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", {1}, {0}),
      st::TensorData::from_floats("mystery.weight", {1}, {0})};
  for (const auto& [k, w] : modules)
    for (auto& t : module_tensors(k, w, 1.5f)) tensors.push_back(std::move(t));
  const std::vector<int64_t> w0 = modules.at(0).second;  // the first module's weight shape
  st::write_file(path, tensors);
  int status = 0;
  const auto j = nlohmann::json::parse(run_cli("inspect --json \"" + path.string() + "\"", &status));
  BOOST_TEST(status == 0);
  const auto& l = j.at("lora");
  BOOST_TEST(l.at("formats") == nlohmann::json({"kohya"}));
  BOOST_TEST(l.at("modules") == modules.size());
  BOOST_TEST(l.at("ranks") == nlohmann::json({rank}));
  BOOST_TEST(l.at("alphas") == nlohmann::json({1.5}));
  BOOST_TEST(l.at("hidden_size") == hidden);
  BOOST_TEST(l.at("min_depth") == depth);
  BOOST_TEST(l.at("min_depth_single_blocks") == singles);
  BOOST_TEST(l.at("text_encoder_tensors") == 1);
  BOOST_TEST(l.at("unknown_tensors") == nlohmann::json({"mystery.weight"}));
  const std::string text = run_cli("inspect --summary \"" + path.string() + "\"", &status);
  BOOST_TEST(text.find("lora: kohya keys, " + std::to_string(modules.size()) + " module") != std::string::npos, text);
  BOOST_TEST(text.find("unknown tensor (ignored): mystery.weight") != std::string::npos, text);
  // An alpha that is NaN: the run refuses the file (exit 3), so the report says it cannot be applied (it had said
  // the LoRA fits, with "alpha: null").
  st::write_file(path, module_tensors(modules[0].first, modules[0].second, std::nanf("")));
  const std::string nan_alpha = run_cli("inspect --summary \"" + path.string() + "\"", &status);
  BOOST_TEST(status == 0);
  BOOST_TEST(nan_alpha.find("lora: cannot be applied: " + path.string() + ": ") != std::string::npos, nan_alpha);
  BOOST_TEST(nan_alpha.find(": its alpha, NaN, over its rank is no finite float32 factor") != std::string::npos,
             nan_alpha);
  // A LoRA on img_in alone: the hidden size is its output width, not its input's (the latent's channels).
  const auto img_in = bfl->at("img_in.weight").shape;
  st::write_file(path, {st::TensorData::from_floats("lora_unet_img_in.lora_down.weight", {rank, img_in[1]}, zeros(rank * img_in[1])),
                        st::TensorData::from_floats("lora_unet_img_in.lora_up.weight", {img_in[0], rank}, zeros(img_in[0] * rank))});
  const auto embedder = nlohmann::json::parse(run_cli("inspect --json \"" + path.string() + "\"", &status));
  BOOST_TEST(status == 0);
  BOOST_TEST(embedder.at("lora").at("modules") == 1);
  BOOST_TEST(embedder.at("lora").at("hidden_size") == hidden, embedder.dump());
  BOOST_TEST(embedder.at("lora").at("overlaps").empty());
  // The same module under kohya and BFL names: both counted, and the overlap said.
  st::write_file(path, {st::TensorData::from_floats("lora_unet_img_in.lora_down.weight", {rank, img_in[1]}, zeros(rank * img_in[1])),
                        st::TensorData::from_floats("lora_unet_img_in.lora_up.weight", {img_in[0], rank}, zeros(img_in[0] * rank)),
                        st::TensorData::from_floats("diffusion_model.img_in.lora_A.weight", {rank, img_in[1]}, zeros(rank * img_in[1])),
                        st::TensorData::from_floats("diffusion_model.img_in.lora_B.weight", {img_in[0], rank}, zeros(img_in[0] * rank))});
  const std::string twice = run_cli("inspect --summary \"" + path.string() + "\"", &status);
  BOOST_TEST(status == 0);
  BOOST_TEST(twice.find("lora: bfl, kohya keys, 2 modules") != std::string::npos, twice);
  BOOST_TEST(twice.find("overlap: modules 'diffusion_model.img_in' and 'lora_unet_img_in' both change 'img_in.weight': "
                        "both are added") != std::string::npos, twice);
  // What a run refuses whatever the model is "cannot be applied", with the run's reason (these had been reported
  // as fitting a model, and text-encoder tensors alone with "none (alpha = rank)" as their formats and ranks).
  const std::vector<std::pair<std::vector<st::TensorData>, std::string>> refused = {
      {{st::TensorData::from_floats("lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", {1}, {0})},
       "no LoRA module for the FLUX transformer in this file (1 text-encoder tensors"},
      {{st::TensorData::from_floats("lora_unet_img_in.lora_down.weight", {0, img_in[1]}, {}),
        st::TensorData::from_floats("lora_unet_img_in.lora_up.weight", {img_in[0], 0}, {})},
       "LoRA module 'lora_unet_img_in': rank 0: down has no rows"},
      {{st::TensorData::from_floats("lora_unet_img_in.lora_down.weight", {rank, img_in[1]}, zeros(rank * img_in[1])),
        st::TensorData::from_floats("lora_unet_img_in.lora_up.weight", {img_in[0], rank}, zeros(img_in[0] * rank)),
        st::TensorData::from_floats("lora_unet_img_in.alpha", {3}, {1, 2, 3})},
       "LoRA module 'lora_unet_img_in': alpha has shape [3], expected a scalar"},
      // A block index no model's names have ("00"): the run finds no such weight (it had fitted "1 double block").
      {{st::TensorData::from_floats("lora_unet_double_blocks_00_img_attn_qkv.lora_down.weight", {rank, w0[1]},
                                    zeros(rank * w0[1])),
        st::TensorData::from_floats("lora_unet_double_blocks_00_img_attn_qkv.lora_up.weight", {w0[0], rank},
                                    zeros(w0[0] * rank))},
       "LoRA module 'lora_unet_double_blocks_00_img_attn_qkv' changes 'double_blocks.00.img_attn.qkv.weight', "
       "which no FLUX transformer has"}};
  // Integer factors (libtorch's matmul of them had failed the run without naming the file).
  st::TensorData int_down;
  int_down.name = "lora_unet_img_in.lora_down.weight";
  int_down.dtype = st::DType::I32;
  int_down.shape = {rank, img_in[1]};
  int_down.bytes.assign(size_t(rank * img_in[1]) * 4, 0);
  for (const auto& [tensors, reason] : refused) {
    st::write_file(path, tensors);
    const std::string out = run_cli("inspect --summary \"" + path.string() + "\"", &status);
    BOOST_TEST(status == 0, out);
    BOOST_TEST(out.find("lora: cannot be applied: " + path.string() + ": " + reason) != std::string::npos, out);
    BOOST_TEST(out.find("fits:") == std::string::npos, out);
  }
  st::write_file(path, {int_down, st::TensorData::from_floats("lora_unet_img_in.lora_up.weight", {img_in[0], rank},
                                                              zeros(img_in[0] * rank))});
  const std::string integers = run_cli("inspect --summary \"" + path.string() + "\"", &status);
  BOOST_TEST(integers.find("lora: cannot be applied: " + path.string() + ": LoRA module 'lora_unet_img_in': "
                           "'lora_unet_img_in.lora_down.weight' is I32, not a floating-point type") != std::string::npos,
             integers);
  // diffusers' PEFT config in the header says alpha where no .alpha tensor does: reported as the run takes it
  // (it had said "none (alpha = rank)").
  st::write_file(path,
                 {st::TensorData::from_floats("transformer.x_embedder.lora_A.weight", {rank, img_in[1]}, zeros(rank * img_in[1])),
                  st::TensorData::from_floats("transformer.x_embedder.lora_B.weight", {img_in[0], rank}, zeros(img_in[0] * rank))},
                 {{"lora_adapter_metadata", R"({"transformer.lora_alpha": 8})"}});
  const auto peft = nlohmann::json::parse(run_cli("inspect --json \"" + path.string() + "\"", &status));
  BOOST_TEST(status == 0);
  BOOST_TEST(peft.at("lora").at("alphas") == nlohmann::json({8.0}), peft.dump());
  BOOST_TEST(peft.at("lora").at("notes").empty(), peft.dump());
  // A value of it that is no number: what the run warns of, inspect says too (it had said nothing).
  const std::vector<st::TensorData> factors = {
      st::TensorData::from_floats("transformer.x_embedder.lora_A.weight", {rank, img_in[1]}, zeros(rank * img_in[1])),
      st::TensorData::from_floats("transformer.x_embedder.lora_B.weight", {img_in[0], rank}, zeros(img_in[0] * rank))};
  const std::string pattern = R"({"transformer.lora_alpha": 2, "transformer.alpha_pattern": {"x": "16"}})";
  st::write_file(path, factors, {{"lora_adapter_metadata", pattern}});
  const std::string noted = run_cli("inspect --summary \"" + path.string() + "\"", &status);
  BOOST_TEST(status == 0, noted);
  BOOST_TEST(noted.find("  note: its lora_adapter_metadata gives the alpha_pattern key \"x\" no number") !=
                 std::string::npos,
             noted);
  std::filesystem::remove(path);
}
