#define BOOST_TEST_MODULE encode_cli
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <genplug/flux/openblas_core.hpp>
#include <genplug/flux/text/clip_tokenizer.hpp>
#include <genplug/flux/text/t5_tokenizer.hpp>
#include <genplug/flux/text_conditioner.hpp>

#include "golden.hpp"
#include "text_test_util.hpp"
#include "tiny_text_files.hpp"

namespace fs = std::filesystem;
namespace utf = boost::unit_test;

namespace {

fs::path cli() { return fs::path(GENPLUG_BINARY_DIR) / "bin" / "genplug"; }
fs::path flux_plugin() { return genplug::test::plugin_build_dir() / "libgenplug_flux.so"; }

struct CliBuilt {
  boost::test_tools::assertion_result operator()(utf::test_unit_id) const {
    boost::test_tools::assertion_result r(fs::exists(cli()) && fs::exists(flux_plugin()));
    if (!r) r.message() << "SKIPPED: build the genplug and genplug_flux targets first (" << cli() << ", " << flux_plugin() << ")";
    return r;
  }
};

// Runs the CLI with `args`; returns the exit code, stderr in *err (stdout to `out_file`, default nowhere).
int run(const std::string& args, std::string* err, const std::string& out_file = "/dev/null") {
  const fs::path err_file = fs::temp_directory_path() / ("genplug_encode_err_" + std::to_string(::getpid()));
  const std::string command = cli().string() + " --plugin-path " + genplug::test::plugin_build_dir().string() + " " +
                              args + " > " + out_file + " 2> " + err_file.string();
  const int status = std::system(command.c_str());
  std::ifstream in(err_file);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (err) *err = ss.str();
  fs::remove(err_file);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

fs::path inspector_plugin() { return genplug::test::plugin_build_dir() / "libgenplug_flux_inspect.so"; }

struct InspectorBuilt {
  boost::test_tools::assertion_result operator()(utf::test_unit_id) const {
    boost::test_tools::assertion_result r(fs::exists(cli()) && fs::exists(inspector_plugin()));
    if (!r) r.message() << "SKIPPED: build the genplug and genplug_flux_inspect targets first";
    return r;
  }
};

// Runs the CLI with `args`; returns the exit code, stdout in *out and stderr in *err.
int run_capture(const std::string& args, std::string* out, std::string* err) {
  const fs::path out_file = fs::temp_directory_path() / ("genplug_encode_out_" + std::to_string(::getpid()));
  const int code = run(args, err, out_file.string());
  std::ifstream in(out_file);
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  fs::remove(out_file);
  return code;
}

std::string join(const std::vector<int64_t>& ids) {
  std::string s;
  for (int64_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

fs::path openai_vocabulary() { return genplug::test::clip_vocabulary_file(); }

}  // namespace

BOOST_AUTO_TEST_CASE(show_tokens_prints_text_ids_and_pieces_of_both_tokenizers, *utf::precondition(InspectorBuilt())) {
  genplug::test::TinyFiles files;
  const fs::path config = files.dir / "text.json";
  std::ofstream(config) << files.config(16).dump();
  std::string out, err;
  // Upper case, a run of spaces and a ligature (ftfy: fi); the tiny vocabularies hold letters only.
  const int code = run_capture("encode --show-tokens --text @" + config.string() + " -p \"$(printf 'A  Red \357\254\201sh')\"", &out, &err);
  BOOST_REQUIRE_MESSAGE(code == 0, "genplug encode --show-tokens failed (" << code << "): " << err);
  const std::string typed = "A  Red \xEF\xAC\x81sh";
  const auto clip = genplug::flux::text::ClipTokenizer::load(files.dir / "tokenizer");
  const auto t5 = genplug::flux::text::T5Tokenizer::load(files.dir / "spiece.model");
  std::vector<int64_t> clip_ids{clip.bos_id()};
  for (int64_t id : clip.encode(typed)) clip_ids.push_back(id);
  clip_ids.push_back(clip.eos_id());
  std::vector<int64_t> t5_ids = t5.encode(typed);
  t5_ids.push_back(t5.eos_id());
  BOOST_TEST(out.find("clip (" + (files.dir / "tokenizer").string() + ")") != std::string::npos, out);
  BOOST_TEST(out.find("  text:   a red fish\n") != std::string::npos, out);  // ftfy, whitespace, lower case
  BOOST_TEST(out.find("  ids:    " + join(clip_ids) + "  (" + std::to_string(clip_ids.size()) + " of max 77)") !=
                 std::string::npos, out);
  BOOST_TEST(out.find("  pieces: [<|startoftext|>] [a</w>] [r] [e] [d</w>]") != std::string::npos, out);
  BOOST_TEST(out.find("t5 (" + (files.dir / "spiece.model").string() + ")") != std::string::npos, out);
  BOOST_TEST(out.find("  text:   " + t5.normalize(typed) + "\n") != std::string::npos, out);
  BOOST_TEST(out.find("  ids:    " + join(t5_ids) + "  (" + std::to_string(t5_ids.size()) + " of max 16)") !=
                 std::string::npos, out);
  BOOST_TEST(out.find("[</s>]") != std::string::npos, out);

  // --json: the inspector's report itself.
  BOOST_REQUIRE(run_capture("encode --show-tokens --json --text @" + config.string() + " -p 'a red house'", &out, &err) == 0);
  const auto report = nlohmann::json::parse(out);
  BOOST_REQUIRE(report["tokenizers"].size() == 2u);
  BOOST_TEST(report["tokenizers"][0]["name"] == "clip");
  BOOST_TEST(report["tokenizers"][0]["text"] == "a red house");
  BOOST_TEST(report["tokenizers"][1]["name"] == "t5");
  std::vector<int64_t> expected_t5 = t5.encode("a red house");
  expected_t5.push_back(t5.eos_id());
  BOOST_TEST(report["tokenizers"][1]["ids"].get<std::vector<int64_t>>() == expected_t5, boost::test_tools::per_element());
  BOOST_TEST(report["tokenizers"][1]["pieces"].size() == expected_t5.size());
}

BOOST_AUTO_TEST_CASE(show_tokens_escapes_control_characters_and_reports_errors, *utf::precondition(InspectorBuilt())) {
  genplug::test::TinyFiles files;
  const std::string tok = " --clip-tokenizer " + (files.dir / "tokenizer").string();
  std::string out, err;
  // A terminal escape in the prompt is printed escaped, never raw (ftfy removes it from the cleaned text).
  BOOST_REQUIRE(run_capture("encode --show-tokens" + tok + " -p \"$(printf 'red\033[2Jhouse\007')\"", &out, &err) == 0);
  BOOST_TEST(out.find('\x1b') == std::string::npos, out);
  BOOST_TEST(out.find('\x07') == std::string::npos, out);
  BOOST_TEST(out.find("prompt: red\\x1b[2Jhouse") != std::string::npos, out);
  BOOST_TEST(out.find("  text:   redhouse") != std::string::npos, out);
  BOOST_TEST(out.find("t5 (") == std::string::npos, out);  // only the tokenizer asked for
  // Invalid UTF-8 and a config naming no tokenizer are usage errors; a missing file a file error.
  BOOST_TEST(run_capture("encode --show-tokens" + tok + " -p \"$(printf 'caf\351')\"", &out, &err) == 2);
  BOOST_TEST(err.find("not valid UTF-8") != std::string::npos, err);
  BOOST_TEST(run_capture("encode --show-tokens --random -p x", &out, &err) == 2);
  BOOST_TEST(err.find("no tokenizer") != std::string::npos, err);
  // Weights whose folder the system cannot look at (a name over NAME_MAX) have no tokenizer beside them: the
  // same usage error, not an internal one.
  BOOST_TEST(run_capture("encode --show-tokens --clip /tmp/" + std::string(300, 'x') + "/model.safetensors -p x", &out,
                         &err) == 2);
  BOOST_TEST(err.find("no tokenizer") != std::string::npos, err);
  BOOST_TEST(run_capture("encode --show-tokens --clip-tokenizer " + (files.dir / "none.txt.gz").string() + " -p x", &out,
                         &err) != 0);
  BOOST_TEST(err.find("none.txt.gz") != std::string::npos, err);
  BOOST_TEST(run_capture("encode --random -p x", &out, &err) == 2);  // without --show-tokens, -o is needed
  BOOST_TEST(err.find("--output") != std::string::npos, err);
}

BOOST_AUTO_TEST_CASE(show_tokens_with_openai_vocabulary_repairs_typed_text, *utf::precondition(InspectorBuilt())) {
  const fs::path vocab = openai_vocabulary();
  if (vocab.empty()) {
    BOOST_TEST_MESSAGE("SKIPPED: no bpe_simple_vocab_16e6.txt.gz in the golden folder or ../shared");
    return;
  }
  std::string out, err;
  // Mojibake of "café" and a decomposed "é": the same cleaned text and ids as "café école".
  BOOST_REQUIRE(run_capture("encode --show-tokens --clip-tokenizer " + vocab.string() +
                                " -p \"$(printf 'Caf\303\203\302\251 e\314\201cole')\"",
                            &out, &err) == 0);
  const auto tok = genplug::flux::text::ClipTokenizer::load(vocab);
  std::vector<int64_t> ids{tok.bos_id()};
  for (int64_t id : tok.encode("caf\xC3\xA9 \xC3\xA9" "cole")) ids.push_back(id);
  ids.push_back(tok.eos_id());
  BOOST_TEST(out.find("  text:   caf\xC3\xA9 \xC3\xA9" "cole\n") != std::string::npos, out);
  BOOST_TEST(out.find("  ids:    " + join(ids) + "  (") != std::string::npos, out);
  BOOST_TEST(out.find("[caf\xC3\xA9</w>]") != std::string::npos, out);
}

BOOST_AUTO_TEST_CASE(encode_writes_what_the_conditioner_computes, *utf::precondition(CliBuilt())) {
  const fs::path out = fs::temp_directory_path() / ("genplug_encode_" + std::to_string(::getpid()) + ".safetensors");
  std::string err;
  const int code = run("encode --random --max-length 20 --context-dim 48 --vec-dim 32 -p 'a lighthouse at dusk' -o " +
                           out.string() + " --force",
                       &err);
  BOOST_REQUIRE_MESSAGE(code == 0, "genplug encode failed (" << code << "): " << err);
  const auto file = genplug::safetensors::File::open(out);
  BOOST_TEST(file->metadata().at("prompt") == "a lighthouse at dusk");
  const torch::Tensor txt = genplug::test::to_torch(file->at("txt"));
  const torch::Tensor vec = genplug::test::to_torch(file->at("vec"));
  BOOST_TEST(txt.sizes() == torch::IntArrayRef({1, 20, 48}));
  BOOST_TEST(vec.sizes() == torch::IntArrayRef({1, 32}));

  // The same text config in-process gives the same tensors; the reader accepts the file.
  auto cond = genplug::flux::TextConditioner::create({{"random", true}, {"max_length", 20}}, 48, 32, torch::kCPU,
                                                     torch::kFloat32, nullptr);
  const auto expected = cond->encode("a lighthouse at dusk");
  BOOST_TEST(torch::allclose(txt, expected.txt, 1e-6, 1e-6));
  BOOST_TEST(torch::allclose(vec, expected.vec, 1e-6, 1e-6));
  const auto read = genplug::flux::read_conditioning_file(out, 48, 32, torch::kCPU, torch::kFloat32);
  BOOST_TEST(torch::equal(read.txt, txt));

  // An existing file is not overwritten without --force; an invalid UTF-8 prompt is a clear error.
  BOOST_TEST(run("encode --random -p x -o " + out.string(), &err) != 0);
  BOOST_TEST(err.find("exists") != std::string::npos, err);
  BOOST_TEST(run("encode --random -p \"$(printf 'caf\\351')\" -o " + out.string() + " --force", &err) == 2);  // usage
  BOOST_TEST(err.find("not valid UTF-8") != std::string::npos, err);
  BOOST_TEST(run("encode --random -p x --max-length 0 -o " + out.string() + " --force", &err) == 2);
  fs::remove(out);

  // Widths no text encoder has (vector_in alone would be 2.56 PB): refused as the option they are, before anything
  // is allocated, and no file. Not "out of memory" (75): no retry gives 2.56 PB; nor the random weights' memory
  // error, which spoke of a preset and dtype the command never showed.
  for (const char* option : {"--vec-dim", "--context-dim"}) {
    const int too_wide = run("encode --random -p x " + std::string(option) + " 10000000000000 -o " + out.string(), &err);
    BOOST_TEST(too_wide == 2, err);
    BOOST_TEST(err.find(std::string(option) + ": must be from 1 to 65536, got 10000000000000") != std::string::npos, err);
    BOOST_TEST(!fs::exists(out));
  }

  // An output that cannot be written is refused before anything is encoded (exit 6), and leaves nothing behind.
  // A folder or FIFO in its place is named as such, not as a file that exists.
  const fs::path fifo = out.parent_path() / ("genplug_encode_fifo_" + std::to_string(::getpid()));
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  BOOST_TEST(run("encode --random -p x -o " + fifo.string(), &err) == 6);
  BOOST_TEST(err.find("it is not a regular file (a device, FIFO or socket)") != std::string::npos, err);
  fs::remove(fifo);
  BOOST_TEST(run("encode --random -p x --force -o " + out.parent_path().string(), &err) == 6);
  BOOST_TEST(err.find("it is a folder") != std::string::npos, err);
  BOOST_TEST(run("encode --random -p x -o /proc/genplug-encode.safetensors", &err) == 6);
  BOOST_TEST(err.find("cannot write output '/proc/genplug-encode.safetensors'") != std::string::npos, err);
  const fs::path folder = out.parent_path() / ("genplug_encode_names_" + std::to_string(::getpid()));
  fs::create_directories(folder);
  BOOST_TEST(run("encode --random -p x -o " + (folder / (std::string(256, 'n') + ".safetensors")).string(), &err) == 6);
  BOOST_TEST(err.find("longer than 255 bytes") != std::string::npos, err);
  const fs::path long_name = folder / (std::string(240, 'n') + ".safetensors");  // fits; its temporary must too
  BOOST_TEST(run("encode --random -p x -o " + long_name.string(), &err) == 0, err);
  BOOST_TEST(std::distance(fs::directory_iterator(folder), fs::directory_iterator()) == 1);
  fs::remove_all(folder);
}

// --prompt-file: a long prompt from a file or standard input; the file's BOM and final line end are not part of
// it; what is not one prompt of UTF-8 text is refused as the option's mistake (2), and no file written.
BOOST_AUTO_TEST_CASE(encode_reads_the_prompt_from_a_file_or_standard_input, *utf::precondition(CliBuilt())) {
  const fs::path dir = fs::temp_directory_path() / ("genplug_prompt_file_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path out = dir / "c.safetensors", prompt = dir / "prompt.txt";
  const std::string long_prompt = "a lighthouse at dusk" + std::string(60000, ' ') + "with \"gulls\"\nand 'terns'";
  std::ofstream(prompt, std::ios::binary) << "\xEF\xBB\xBF" << long_prompt << "\r\n";
  const std::string common =
      "encode --random --max-length 20 --context-dim 48 --vec-dim 32 --force -o " + out.string();
  std::string err;
  const std::string from_file = "--prompt-file " + prompt.string(), from_stdin = "--prompt-file - < " + prompt.string();
  for (const std::string& source : {from_file, from_stdin}) {
    BOOST_TEST_REQUIRE(run(common + " " + source, &err) == 0, source << ": " << err);
    BOOST_TEST(genplug::safetensors::File::open(out)->metadata().at("prompt") == long_prompt, source);
  }
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"printf 'a\\000b' > " + prompt.string(), "a NUL byte at offset 1"},
      {"head -c 70000 /dev/zero | tr '\\000' a > " + prompt.string(), "the prompt is over 64 KiB"},
      {": > " + prompt.string(), "the prompt is empty"},
      {"printf ' \\t\\n' > " + prompt.string(), "the prompt is empty"},
      {"printf '\\377\\376a\\000' > " + prompt.string(), "the file is UTF-16; save it as UTF-8"},
      {"head -c 2000000 /dev/zero | tr '\\000' a > " + prompt.string(), "the prompt is over 64 KiB"}};
  for (const auto& [make, message] : refused) {
    BOOST_REQUIRE(std::system(make.c_str()) == 0);
    fs::remove(out);
    BOOST_TEST(run(common + " --prompt-file " + prompt.string(), &err) == 2, make);
    BOOST_TEST(err.find(message) != std::string::npos, err);
    BOOST_TEST(run(common + " --prompt-file - < " + prompt.string(), &err) == 2, make);
    BOOST_TEST(err.find(message) != std::string::npos, err);
    BOOST_TEST(!fs::exists(out));
  }
  BOOST_TEST(run(common + " --prompt-file " + dir.string(), &err) == 2);
  const std::string not_regular = "--prompt-file: cannot read '" + dir.string() + "': it is not a regular file";
  BOOST_TEST(err.find(not_regular) != std::string::npos, err);
  BOOST_TEST(run(common + " -p x --prompt-file " + prompt.string(), &err) == 2);
  BOOST_TEST(run(common, &err) == 2);
  BOOST_TEST(err.find("give the prompt: --prompt TEXT or --prompt-file PATH") != std::string::npos, err);
  fs::remove_all(dir);
}

// Encoders of other widths than --context-dim / --vec-dim: one usage error naming both and the options (the
// transformer encode builds is its own), and no file. With the encoders' widths the file is written, and the line
// that says so goes to stderr, escaped: stdout failing then (a full disk) leaves the command's result as it is.
BOOST_AUTO_TEST_CASE(encode_names_the_width_options_and_reports_on_stderr, *utf::precondition(CliBuilt())) {
  genplug::test::TinyFiles files;
  const fs::path config = files.dir / "text.json";
  std::ofstream(config) << files.config(16).dump();
  const fs::path out = files.dir / "q\x1b[31m.safetensors";
  const std::string text = "encode --text @" + config.string() + " -p 'a red fish' -o \"" + out.string() + "\"";
  auto widths = [](int64_t context, int64_t vec) {
    return " --context-dim " + std::to_string(context) + " --vec-dim " + std::to_string(vec);
  };
  std::string err;
  BOOST_TEST(run(text + widths(2 * files.t5_width, 2 * files.clip_width), &err) == 2, err);
  BOOST_TEST(err.find("wide but the transformer expects context_in_dim " + std::to_string(2 * files.t5_width)) !=
                 std::string::npos, err);
  BOOST_TEST(err.find("wide but the transformer expects vec_in_dim " + std::to_string(2 * files.clip_width)) !=
                 std::string::npos, err);
  BOOST_TEST(err.find("(encode's --context-dim and --vec-dim set what the transformer expects") != std::string::npos,
             err);
  BOOST_TEST(!fs::exists(out));
  BOOST_TEST(run(text + widths(files.t5_width, files.clip_width), &err, "/dev/full") == 0, err);
  BOOST_TEST(err.find("genplug: wrote " + files.dir.string() + "/q\\x1b[31m.safetensors: txt [1, 16, " +
                      std::to_string(files.t5_width) + "] vec [1, " + std::to_string(files.clip_width) + "]") !=
                 std::string::npos, err);
  BOOST_TEST(fs::exists(out));
  // --show-tokens writes nothing: an --output beside it is refused, not ignored.
  BOOST_TEST(run("encode --show-tokens --text @" + config.string() + " -p x -o " + (files.dir / "t.st").string(),
                 &err) == 2, err);
  BOOST_TEST(err.find("--output does not go with --show-tokens") != std::string::npos, err);
}

// A text device or dtype this libtorch cannot compute in is refused when the model is created, not at the first
// prompt as an 'I/O error': CUDA in a CPU build is a device error (exit 4, as config.device), float16 where the CPU
// has no float16 products (libtorch 1.x) a config error (exit 2: the option's). Which applies is asked of the
// libtorch the test runs on, so that a CUDA or libtorch 2.x build expects success instead.
BOOST_AUTO_TEST_CASE(encode_refuses_a_text_device_or_dtype_libtorch_cannot_use, *utf::precondition(CliBuilt())) {
  const fs::path out = fs::temp_directory_path() / ("genplug_encode_dev_" + std::to_string(::getpid()) + ".safetensors");
  const std::string common = "encode --random --max-length 8 --context-dim 16 --vec-dim 8 -p x --force -o " + out.string();
  std::string err;
  const int cuda = run(common + " --text-device cuda", &err);
  if (!at::hasCUDA()) {
    BOOST_TEST(cuda == 4, err);
    BOOST_TEST(err.find("device error: text config: \"text_device\": 'cuda' requested but this libtorch has no CUDA "
                        "device") != std::string::npos,
               err);
    BOOST_TEST(!fs::exists(out));
  }
  bool half_products = true;
  try {
    const torch::Tensor one = torch::ones({1, 1}, torch::kHalf);
    torch::addmm(one, one, one);
  } catch (const std::exception&) {
    half_products = false;
  }
  const int half = run(common + " --text-dtype float16", &err);
  BOOST_TEST(half == (half_products ? 0 : 2), err);
  if (!half_products)
    BOOST_TEST(err.find("\"text_dtype\": this libtorch has no float16 matrix products on the CPU; use bfloat16 or "
                        "float32") != std::string::npos,
               err);

  // The random encoders' options are checked like the others' against the plugin's schema, naming --text's keys.
  BOOST_TEST(run("encode -p x --force -o " + out.string() + " --text '{\"random\": {\"seed\": \"7\"}}'", &err) == 2);
  BOOST_TEST(err.find("--text.random.seed: expected integer, got \"7\"") != std::string::npos, err);
  BOOST_TEST(err.find("json.exception") == std::string::npos, err);
  BOOST_TEST(run("encode -p x --force -o " + out.string() + " --text '{\"random\": {\"max_length\": -3}}'", &err) == 2);
  BOOST_TEST(err.find("--text.random.max_length: expected number >= 1, got -3") != std::string::npos, err);
  // Bounded as --max-length is: a billion tokens was refused only by the allocator, after gigabytes were written.
  BOOST_TEST(run("encode -p x --force -o " + out.string() + " --text '{\"random\": true, \"max_length\": 1000000000}'",
                 &err) == 2);
  BOOST_TEST(err.find("--text.max_length: expected number <= 1048576, got 1000000000") != std::string::npos, err);
  // Devices libtorch knows but the encoders do not run on are refused with the others.
  BOOST_TEST(run(common + " --text-device meta", &err) == 2);
  BOOST_TEST(err.find("\"text_device\": 'meta' is not one of cpu, cuda, cuda:N") != std::string::npos, err);
  // --random keeps the options --text gives it.
  const fs::path seeded = out.string() + ".seeded";
  BOOST_TEST(run("encode -p x --force --random -o " + seeded.string() + " --text '{\"random\": {\"seed\": 5}}'", &err) == 0,
             err);
  BOOST_TEST(run("encode -p x --force --random -o " + out.string(), &err) == 0, err);
  BOOST_TEST(!torch::equal(genplug::test::to_torch(genplug::safetensors::File::open(seeded)->at("txt")),
                           genplug::test::to_torch(genplug::safetensors::File::open(out)->at("txt"))));
  fs::remove(seeded);
  // A mistyped key is refused (a usage error, as every bad --text), naming it and what is allowed.
  fs::remove(out);
  BOOST_TEST(run("encode -p x -o " + out.string() + " --text '{\"random\": {\"sed\": 7}}'", &err) == 2, err);
  BOOST_TEST(err.find("--text.random: unknown key \"sed\" (did you mean \"seed\"?)") != std::string::npos, err);
  BOOST_TEST(run("encode -p x -o " + out.string() + " --text '{\"random\": true, \"t5_tokenzier\": \"t\"}'", &err) == 2, err);
  BOOST_TEST(err.find("--text: unknown key \"t5_tokenzier\" (did you mean \"t5_tokenizer\"?)") != std::string::npos, err);
  BOOST_TEST(!fs::exists(out));
}

BOOST_AUTO_TEST_CASE(encode_with_real_tokenizers_and_encoders, *utf::precondition(CliBuilt())) {
  // The tiny golden T5 and CLIP with their tokenizer files, through the plugin's config.text.
  genplug::test::TinyFiles files;
  const fs::path config = files.dir / "text.json";
  std::ofstream(config) << files.config(16).dump();
  const fs::path out = files.dir / "cond.safetensors";
  std::string err;
  const std::string dims = " --context-dim " + std::to_string(files.t5_width) + " --vec-dim " + std::to_string(files.clip_width);
  const int code = run("encode --text @" + config.string() + dims + " -p 'a red house' -o " + out.string(), &err);
  BOOST_REQUIRE_MESSAGE(code == 0, "genplug encode failed (" << code << "): " << err);
  const auto read = genplug::flux::read_conditioning_file(out, files.t5_width, files.clip_width, torch::kCPU, torch::kFloat32);
  // The same sums as the CLI's plugin: it repairs OpenBLAS's kernels on the CPUs OpenBLAS takes for a Prescott
  // (openblas_core.hpp), where this process would otherwise run the Prescott ones.
  genplug::flux::repair_openblas_core();
  auto cond = genplug::flux::TextConditioner::create(files.config(16), files.t5_width, files.clip_width, torch::kCPU,
                                                     torch::kFloat32, nullptr);
  const auto expected = cond->encode("a red house");
  BOOST_TEST(read.txt.sizes() == torch::IntArrayRef({1, 16, files.t5_width}));
  BOOST_TEST(torch::allclose(read.txt, expected.txt, 1e-6, 1e-6));
  BOOST_TEST(torch::allclose(read.vec, expected.vec, 1e-6, 1e-6));

  // A tokenizer that does not fit the encoder fails with the reason.
  BOOST_TEST(run("encode --text @" + config.string() + " --clip-tokenizer " + (files.dir / "spiece.model").string() +
                     dims + " -p x -o " + out.string() + " --force",
                 &err) != 0);
  BOOST_TEST(err.find("CLIP tokenizer") != std::string::npos, err);
}
