#define BOOST_TEST_MODULE text_conditioner
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include <genplug/flux/text/clip_text_model.hpp>
#include <genplug/flux/text/clip_tokenizer.hpp>
#include <genplug/flux/text/t5_encoder.hpp>
#include <genplug/flux/text/t5_tokenizer.hpp>
#include <genplug/flux/text_conditioner.hpp>
#include <genplug/safetensors.hpp>

#include "golden.hpp"
#include "isa_emulation.hpp"
#include "text_test_util.hpp"
#include "tiny_text_files.hpp"

namespace fs = std::filesystem;
namespace gf = genplug::flux;
namespace gt = genplug::flux::text;
using nlohmann::json;
using genplug::test::TinyFiles;

namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

BOOST_AUTO_TEST_CASE(random_mode_shapes_determinism_and_laziness) {
  const json cfg = {{"random", {{"seed", 3}, {"max_length", 24}}}};
  auto a = gf::TextConditioner::create(cfg, 48, 20, torch::kCPU, torch::kFloat32, nullptr);
  BOOST_TEST(!a->loaded());  // nothing loads before the first encode()
  const gf::TextConditioning c1 = a->encode("a red fox");
  BOOST_TEST(a->loaded());
  BOOST_TEST(c1.txt.sizes() == torch::IntArrayRef({1, 24, 48}));
  BOOST_TEST(c1.vec.sizes() == torch::IntArrayRef({1, 20}));
  BOOST_TEST(c1.txt.scalar_type() == torch::kFloat32);
  BOOST_TEST(torch::isfinite(c1.txt).all().item<bool>());
  BOOST_TEST(c1.txt.std().item<double>() > 0.01);

  auto b = gf::TextConditioner::create(cfg, 48, 20, torch::kCPU, torch::kFloat32, nullptr);
  const gf::TextConditioning c2 = b->encode("a red fox");
  BOOST_TEST(torch::equal(c1.txt, c2.txt));
  BOOST_TEST(torch::equal(c1.vec, c2.vec));
  const gf::TextConditioning c3 = b->encode("a blue fox");
  BOOST_TEST(!torch::equal(c1.vec, c3.vec));
  BOOST_TEST(!torch::equal(c1.txt, c3.txt));

  auto c = gf::TextConditioner::create({{"random", {{"seed", 4}}}, {"max_length", 16}}, 48, 20, torch::kCPU,
                                       torch::kFloat64, nullptr);
  const gf::TextConditioning c4 = c->encode("a red fox");
  BOOST_TEST(c4.txt.sizes() == torch::IntArrayRef({1, 16, 48}));
  BOOST_TEST(c4.txt.scalar_type() == torch::kFloat64);
  c->unload();
  BOOST_TEST(!c->loaded());
}

BOOST_AUTO_TEST_CASE(real_mode_matches_tokenizer_plus_encoders) {
  TinyFiles files;
  const int64_t max_length = 20;
  std::vector<std::string> warnings;
  auto cond = gf::TextConditioner::create(files.config(max_length), files.t5_width, files.clip_width, torch::kCPU, torch::kFloat32,
                                          [&](const std::string& w) { warnings.push_back(w); });
  BOOST_TEST(!cond->loaded());
  const std::string prompt = "a photo of the cat";
  const gf::TextConditioning c = cond->encode(prompt);
  BOOST_TEST(cond->loaded());
  BOOST_TEST(warnings.empty());

  const auto t5_tok = gt::T5Tokenizer::load(files.dir / "spiece.model");
  const auto t5 = gt::T5Encoder::from_weights(gt::load_text_weights(genplug::test::golden("t5/t5_tiny.safetensors"),
                                                                    "encoder.final_layer_norm.weight", "T5",
                                                                    torch::kCPU, torch::kFloat32));
  const auto t5_ids = torch::tensor(t5_tok.encode_padded(prompt, max_length, nullptr)).unsqueeze(0);
  BOOST_TEST(torch::allclose(c.txt, t5.forward(t5_ids)));

  const auto clip_tok = gt::ClipTokenizer::load(files.dir / "tokenizer");
  const auto heads = genplug::test::read_json(genplug::test::golden("clip/clip_text_tiny_info.json"))["config"]["num_attention_heads"];
  const auto clip = gt::ClipTextModel::from_weights(
      gt::load_text_weights(genplug::test::golden("clip/clip_text_tiny.safetensors"), "text_model.final_layer_norm.weight",
                            "CLIP", torch::kCPU, torch::kFloat32),
      heads.get<int64_t>());
  const auto clip_ids = clip_tok.encode_padded(prompt, nullptr);
  BOOST_TEST(clip_ids.front() == files.clip_vocab - 2);
  const auto out = clip.forward(torch::tensor(clip_ids).unsqueeze(0));
  // Pooled at the first end-of-text token: 1 BOS + content tokens.
  const int64_t eos_at = static_cast<int64_t>(clip_tok.encode(prompt).size()) + 1;
  BOOST_TEST(torch::allclose(c.vec, out.last_hidden_state.select(1, eos_at)));
  BOOST_TEST(c.vec.sizes() == torch::IntArrayRef({1, files.clip_width}));

  // A long prompt: both tokenizers warn with the dropped count.
  std::string long_prompt;
  for (int i = 0; i < 40; ++i) long_prompt += "the red house ";
  cond->encode(long_prompt);
  BOOST_TEST(warnings.size() == 2u);
  for (const auto& w : warnings) BOOST_TEST(w.find("were dropped") != std::string::npos, w);
}

// "keep_loaded": false: release_unless_kept() drops the encoders after a prompt, and the next encode() loads them
// again with the same result. By default they stay.
BOOST_AUTO_TEST_CASE(encoders_not_kept_are_released_and_load_again_alike) {
  TinyFiles files;
  json cfg = files.config(20);
  const auto create = [&] {
    return gf::TextConditioner::create(cfg, files.t5_width, files.clip_width, torch::kCPU, torch::kFloat32, nullptr);
  };
  auto kept = create();
  const gf::TextConditioning first = kept->encode("a photo of the cat");
  kept->release_unless_kept();
  BOOST_TEST(kept->loaded());

  cfg["keep_loaded"] = false;
  auto released = create();
  // Each new prompt loads the encoders again: the third is the first again, no longer among the last two.
  for (const char* prompt : {"a photo of the cat", "a red house", "a green tree", "a photo of the cat"}) {
    const gf::TextConditioning c = released->encode(prompt);
    BOOST_TEST(released->loaded());
    if (std::string(prompt) == "a photo of the cat") {
      BOOST_TEST(torch::equal(c.txt, first.txt));
      BOOST_TEST(torch::equal(c.vec, first.vec));
    }
    released->release_unless_kept();
    BOOST_TEST(!released->loaded());
  }
  cfg["keep_loaded"] = "no";
  const std::string bad = message_of([&] { create(); });
  BOOST_TEST(bad.find("\"keep_loaded\" must be true or false") != std::string::npos, bad);
}

// The last two prompts are remembered: encoding one of them again loads nothing (with "keep_loaded": false the
// encoders stay released; with the tokenizer file gone it still succeeds), gives equal tensors of the caller's own
// (writing into them changes nothing remembered) and the same tokenizer warnings again. A third prompt pushes
// out the oldest.
BOOST_AUTO_TEST_CASE(the_last_two_prompts_are_not_encoded_again) {
  TinyFiles files;
  json cfg = files.config(20);
  cfg["keep_loaded"] = false;
  std::vector<std::string> warnings;
  auto cond = gf::TextConditioner::create(cfg, files.t5_width, files.clip_width, torch::kCPU, torch::kFloat32,
                                          [&](const std::string& w) { warnings.push_back(w); });
  std::string long_prompt;
  for (int i = 0; i < 40; ++i) long_prompt += "the red house ";
  const gf::TextConditioning a = cond->encode(long_prompt);
  const std::size_t said = warnings.size();
  BOOST_TEST(said == 2u);  // T5's and CLIP's dropped tokens
  const gf::TextConditioning fog = cond->encode("fog");
  cond->release_unless_kept();
  std::filesystem::rename(files.dir / "spiece.model", files.dir / "spiece.moved");
  for (const std::string& prompt : {long_prompt, std::string("fog"), long_prompt}) {
    const gf::TextConditioning again = cond->encode(prompt);
    BOOST_TEST(!cond->loaded());
    const gf::TextConditioning& before = prompt == "fog" ? fog : a;
    BOOST_TEST(torch::equal(again.txt, before.txt));
    BOOST_TEST(torch::equal(again.vec, before.vec));
    again.txt.fill_(7.0f);  // the caller's own
  }
  BOOST_TEST(torch::equal(cond->encode(long_prompt).txt, a.txt));
  BOOST_TEST(warnings.size() == said * 4);  // the long prompt's warnings with each of its three returns
  // A new prompt loads the encoders: the tokenizer is gone, so that fails, naming it.
  const std::string missing = message_of([&] { cond->encode("a green tree"); });
  BOOST_TEST(missing.find("spiece.model") != std::string::npos, missing);
  std::filesystem::rename(files.dir / "spiece.moved", files.dir / "spiece.model");
  cond->encode("a green tree");  // remembered: the tree and the long prompt
  BOOST_TEST(cond->loaded());
  cond->release_unless_kept();
  cond->encode(long_prompt);  // still among the last two: the failed encode remembered nothing
  BOOST_TEST(!cond->loaded());
  cond->encode("a blue car");  // remembered: the car and the long prompt; the tree is pushed out
  cond->release_unless_kept();
  cond->encode("a green tree");
  BOOST_TEST(cond->loaded());
}

// bf16 encoders on the CPU run their products in oneDNN on libtorch's intra-op threads, which the model raises
// around encode() as for a bf16 forward (they had run on one thread of two); float32 ones use OpenBLAS's pool.
BOOST_AUTO_TEST_CASE(narrow_encoders_on_the_cpu_are_told_apart) {
  auto random_encoders = [](const char* dtype) {
    return gf::TextConditioner::create({{"random", true}, {"text_dtype", dtype}}, 64, 32, torch::kCPU, torch::kFloat32,
                                       nullptr);
  };
  BOOST_TEST(random_encoders("bfloat16")->narrow_on_cpu());
  BOOST_TEST(!random_encoders("float32")->narrow_on_cpu());
}

BOOST_AUTO_TEST_CASE(config_and_file_errors) {
  TinyFiles files;
  json cfg = files.config(16);
  cfg["t5"] = (files.dir / "missing.safetensors").string();
  const std::string missing = message_of([&] { gf::TextConditioner::create(cfg, files.t5_width, files.clip_width, torch::kCPU, torch::kFloat32, nullptr); });
  BOOST_TEST(missing.find("missing.safetensors") != std::string::npos, missing);

  const std::string none = message_of([&] { gf::TextConditioner::create(json::object(), files.t5_width, files.clip_width, torch::kCPU, torch::kFloat32, nullptr); });
  BOOST_TEST(none.find("\"t5\"") != std::string::npos, none);

  // For hosts that do not validate against the schema: a mistyped key is refused, naming it and what is allowed (it
  // had been ignored with a warning), and so are the random encoders' own keys and values.
  auto create_error = [&](const json& c) {
    return message_of([&] { gf::TextConditioner::create(c, files.t5_width, files.clip_width, torch::kCPU, torch::kFloat32, nullptr); });
  };
  const std::string typo = create_error({{"random", true}, {"t5_tokenzier", "x"}});
  BOOST_TEST(typo.find("text config: unknown key \"t5_tokenzier\" (allowed: t5, t5_tokenizer, clip, clip_tokenizer, "
                       "max_length, text_device, text_dtype, random, clip_num_heads, keep_loaded)") != std::string::npos, typo);
  const std::string random_typo = create_error({{"random", {{"sed", 7}}}});
  BOOST_TEST(random_typo.find("unknown key \"random.sed\" (allowed: seed, max_length)") != std::string::npos, random_typo);
  const std::string seed = create_error({{"random", {{"seed", "7"}}}});
  BOOST_TEST(seed.find("\"random.seed\" must be an integer >= 0") != std::string::npos, seed);
  const std::string length = create_error({{"random", true}, {"max_length", 1000000000}});
  BOOST_TEST(length.find("\"max_length\" must be an integer in [1, 1048576]") != std::string::npos, length);

  // Corrupt tokenizer: reported on the first encode (loading is lazy), naming the file.
  std::ofstream(files.dir / "corrupt.model") << "not a model";
  cfg = files.config(16);
  cfg["t5_tokenizer"] = (files.dir / "corrupt.model").string();
  auto bad_tok = gf::TextConditioner::create(cfg, files.t5_width, files.clip_width, torch::kCPU, torch::kFloat32, nullptr);
  const std::string corrupt = message_of([&] { bad_tok->encode("a cat"); });
  BOOST_TEST(corrupt.find("corrupt.model") != std::string::npos, corrupt);
  BOOST_TEST(!bad_tok->loaded());

  // Vocabulary that does not match the encoder's embedding.
  json vocab = {{"a", 0}, {"b", 1}, {"ab", 2}, {"a</w>", 3}, {"<|startoftext|>", 4}, {"<|endoftext|>", 5}};
  fs::create_directories(files.dir / "small");
  std::ofstream(files.dir / "small" / "vocab.json") << vocab.dump();
  std::ofstream(files.dir / "small" / "merges.txt") << "#version: 0.2\na b\n";
  cfg = files.config(16);
  cfg["clip_tokenizer"] = (files.dir / "small").string();
  auto mismatch = gf::TextConditioner::create(cfg, files.t5_width, files.clip_width, torch::kCPU, torch::kFloat32, nullptr);
  const std::string vocab_error = message_of([&] { mismatch->encode("a"); });
  BOOST_TEST(vocab_error.find("do not belong together") != std::string::npos, vocab_error);

  // Encoder width that does not match the transformer.
  const int64_t wider = 2 * files.t5_width;
  auto wide = gf::TextConditioner::create(files.config(16), wider, files.clip_width, torch::kCPU, torch::kFloat32, nullptr);
  const std::string width = message_of([&] { wide->encode("a"); });
  BOOST_TEST(width.find("context_in_dim " + std::to_string(wider)) != std::string::npos, width);
  // Both wrong: the config's fault (invalid_argument, a usage error in `genplug encode`), both named at once.
  auto both = gf::TextConditioner::create(files.config(16), wider, 2 * files.clip_width, torch::kCPU, torch::kFloat32,
                                          nullptr);
  BOOST_CHECK_THROW(both->encode("a"), std::invalid_argument);
  const std::string widths = message_of([&] { both->encode("a"); });
  BOOST_TEST(widths.find("context_in_dim " + std::to_string(wider) + "; CLIP encoder") != std::string::npos, widths);
  BOOST_TEST(widths.find("vec_in_dim " + std::to_string(2 * files.clip_width)) != std::string::npos, widths);

  // A transformers folder whose config.json nests 100 000 deep: refused by name (it overflowed the stack).
  const fs::path deep = files.dir / "deep_t5";
  fs::create_directories(deep);
  fs::copy_file(cfg["t5"].get<std::string>(), deep / "model.safetensors", fs::copy_options::overwrite_existing);
  std::ofstream(deep / "config.json") << "{\"x\": " << std::string(100000, '[') << std::string(100000, ']') << "}";
  cfg = files.config(16);
  cfg["t5"] = deep.string();
  const std::string nested = message_of([&] {
    gf::TextConditioner::create(cfg, files.t5_width, files.clip_width, torch::kCPU, torch::kFloat32, nullptr)->encode("a");
  });
  BOOST_TEST(nested.find((deep / "config.json").string()) != std::string::npos, nested);
  BOOST_TEST(nested.find("nested deeper than 64 levels") != std::string::npos, nested);

  // Invalid UTF-8 prompt.
  auto ok = gf::TextConditioner::create(files.config(16), files.t5_width, files.clip_width, torch::kCPU, torch::kFloat32, nullptr);
  const std::string utf8 = message_of([&] { ok->encode("caf\xE9"); });
  BOOST_TEST(utf8.find("not valid UTF-8") != std::string::npos, utf8);
}

BOOST_AUTO_TEST_CASE(conditioning_file_round_trip_and_errors) {
  const fs::path dir = fs::temp_directory_path() / ("genplug_condfile_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto cond = gf::TextConditioner::create({{"random", true}, {"max_length", 12}}, 24, 16, torch::kCPU,
                                          torch::kFloat32, nullptr);
  const gf::TextConditioning c = cond->encode("sunset over the sea");
  gf::write_conditioning_file(dir / "cond.safetensors", c, {{"prompt", "sunset over the sea"}});
  const gf::TextConditioning r = gf::read_conditioning_file(dir / "cond.safetensors", 24, 16, torch::kCPU, torch::kFloat32);
  BOOST_TEST(torch::equal(r.txt, c.txt));
  BOOST_TEST(torch::equal(r.vec, c.vec));
  const auto file = genplug::safetensors::File::open(dir / "cond.safetensors");
  BOOST_TEST(file->metadata().at("prompt") == "sunset over the sea");

  const std::string dims = message_of([&] { gf::read_conditioning_file(dir / "cond.safetensors", 32, 16, torch::kCPU, torch::kFloat32); });
  BOOST_TEST(dims.find("cond.safetensors") != std::string::npos, dims);
  BOOST_TEST(dims.find("context_in_dim 32") != std::string::npos, dims);

  genplug::safetensors::write_file(dir / "novec.safetensors",
                                   {genplug::safetensors::TensorData::from_floats("txt", {1, 2, 24}, std::vector<float>(48, 0.f))});
  const std::string novec = message_of([&] { gf::read_conditioning_file(dir / "novec.safetensors", 24, 16, torch::kCPU, torch::kFloat32); });
  BOOST_TEST(novec.find("no tensor 'vec'") != std::string::npos, novec);

  std::ofstream(dir / "junk.safetensors") << "junk";
  const std::string junk = message_of([&] { gf::read_conditioning_file(dir / "junk.safetensors", 24, 16, torch::kCPU, torch::kFloat32); });
  BOOST_TEST(junk.find("not a valid safetensors file") != std::string::npos, junk);
  fs::remove_all(dir);
}

// Before each encoder loads on the CPU the conditioner tells what it will hold (its tensors in the dtype they load
// as) and need besides (one tensor's stored bytes), so that the model can refuse a load the machine cannot hold
// rather than meet the out-of-memory killer; a refusal leaves nothing loaded.
BOOST_AUTO_TEST_CASE(each_encoder_load_is_told_before_it_happens) {
  const genplug::test::Bf16AsOnCappedIsa isa;  // the bfloat16 encode of the avx2 variant, on an AVX-512 CPU too
  TinyFiles files;
  const json cfg = files.config(20);
  struct Told {
    std::string what, file, dtype;
    double held, temporary;
  };
  // What load_text_weights would hold and copy for the golden file as `dtype`: the floating tensors (T5's and
  // CLIP's golden files hold no other), each in `dtype`, and the largest one's stored bytes.
  auto expected = [](const fs::path& file, double element) {
    double held = 0, temporary = 0;
    const genplug::safetensors::Checkpoint checkpoint(file);
    for (const auto& info : checkpoint.tensors()) {
      held += double(info.numel()) * element;
      temporary = std::max(temporary, double(info.nbytes));
    }
    return std::pair{held, temporary};
  };
  for (const auto& [dtype, element] : {std::pair<std::string, double>{"float32", 4}, {"bfloat16", 2}}) {
    json with_dtype = cfg;
    with_dtype["text_dtype"] = dtype;
    std::vector<Told> told;
    auto cond = gf::TextConditioner::create(
        with_dtype, files.t5_width, files.clip_width, torch::kCPU, torch::kFloat32, nullptr,
        [&](const std::string& what, const fs::path& file, const std::string& d, double held, double temporary) {
          told.push_back({what, file.string(), d, held, temporary});
        });
    BOOST_TEST(told.empty());  // lazily: nothing loads at create
    cond->encode("a red house");
    BOOST_REQUIRE_EQUAL(told.size(), 2u);
    BOOST_TEST(told[0].what == "CLIP text encoder");
    BOOST_TEST(told[0].file == cfg["clip"].get<std::string>());
    BOOST_TEST(told[1].what == "T5 encoder");
    BOOST_TEST(told[1].file == cfg["t5"].get<std::string>());
    for (const Told& t : told) {
      BOOST_TEST(t.dtype == dtype);
      const auto [held, temporary] = expected(t.file, element);
      BOOST_TEST(t.held == held, t.what);
      BOOST_TEST(t.temporary == temporary, t.what);
    }
  }
  auto refusing = gf::TextConditioner::create(
      cfg, files.t5_width, files.clip_width, torch::kCPU, torch::kFloat32, nullptr,
      [](const std::string& what, const fs::path&, const std::string&, double, double) {
        if (what == "T5 encoder") throw std::runtime_error("T5 refused");
      });
  BOOST_TEST(message_of([&] { refusing->encode("a red house"); }) == "T5 refused");
  BOOST_TEST(!refusing->loaded());
}
