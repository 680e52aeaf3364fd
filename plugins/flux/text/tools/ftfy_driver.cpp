// Driver of tools/ftfy_differential.py: reads a JSON array of strings (file argv[1]) and prints the JSON array of
// our ftfy.fix_text of each ("ERROR ..." where it throws). With a second argument (a CLIP vocabulary: folder,
// vocab.json or .txt.gz) it prints the CLIP content ids of each string instead. Development tool, not installed:
//   cmake --build build --target genplug_ftfy_driver
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include <genplug/flux/text/clip_text_cleanup.hpp>
#include <genplug/flux/text/clip_tokenizer.hpp>
#include <genplug/flux/text/unicode_text.hpp>

int main(int argc, char** argv) {
  namespace tx = genplug::flux::text;
  if (argc < 2) {
    std::cerr << "usage: genplug_ftfy_driver STRINGS.json [CLIP_VOCABULARY]\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  const nlohmann::json strings = nlohmann::json::parse(in);
  nlohmann::json out = nlohmann::json::array();
  if (argc > 2) {
    const auto tokenizer = tx::ClipTokenizer::load(argv[2]);
    for (const auto& s : strings) {
      try {
        out.push_back(tokenizer.encode(s.get<std::string>()));
      } catch (const std::exception& e) {
        out.push_back(std::string("ERROR ") + e.what());
      }
    }
  } else {
    for (const auto& s : strings) {
      try {
        out.push_back(tx::encode_utf8(tx::ftfy_fix_text(tx::decode_utf8(s.get<std::string>()))));
      } catch (const std::exception& e) {
        out.push_back(std::string("ERROR ") + e.what());
      }
    }
  }
  std::cout << out.dump() << "\n";
  return 0;
}
