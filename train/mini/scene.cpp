#include "scene.hpp"

#include <algorithm>
#include <sstream>

namespace genplug::mini {
namespace {

constexpr std::array<std::string_view, colour_count> colour_names = {
    "red", "orange", "yellow", "green", "cyan", "blue", "purple", "white"};
constexpr std::array<std::string_view, kind_count> kind_names = {"circle", "square", "triangle", "ring", "cross"};
constexpr std::array<std::string_view, background_colour_count> background_names = {"black", "grey", "navy",
                                                                                     "brown"};
constexpr std::array<std::string_view, pattern_count> pattern_names = {"plain", "gradient", "stripes", "checker"};
constexpr std::array<std::string_view, position_count> position_phrases = {
    "at the top left",    "at the top",    "at the top right",    "on the left",    "in the center",
    "on the right",       "at the bottom left", "at the bottom", "at the bottom right"};

// Index of `word` in `names`, or -1.
template <std::size_t N>
int index_of(const std::array<std::string_view, N>& names, std::string_view word) {
  const auto it = std::find(names.begin(), names.end(), word);
  return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  std::istringstream in{std::string(text)};
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

std::string join_words(const std::vector<std::string>& words, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to; ++i) out += (i > from ? " " : "") + words[i];
  return out;
}

// "a" or "an" by the colour word's first letter (every colour name starting with a vowel is said with one).
std::string_view article_for(std::string_view word) {
  return std::string_view("aeiou").find(word.front()) != std::string_view::npos ? "an" : "a";
}

std::string object_phrase(const SceneObject& o) {
  const std::string_view colour = name_of(o.colour);
  return std::string(article_for(colour)) + " " + std::string(colour) + " " + std::string(name_of(o.kind)) + " " +
         std::string(phrase_of(o.position));
}

// Rule: "X", "X and Y", "X, Y and Z".
std::string list_phrase(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += (i + 1 == items.size()) ? " and " : ", ";
    out += items[i];
  }
  return out;
}

// plain: "plain grey"; gradient: "grey to black gradient"; stripes: "grey and black striped";
// checker: "grey and black checker"; always followed by " background".
std::string background_phrase(const Background& b) {
  const std::string first(name_of(b.first)), second(name_of(b.second));
  switch (b.pattern) {
    case Pattern::plain: return "plain " + first + " background";
    case Pattern::gradient: return first + " to " + second + " gradient background";
    case Pattern::stripes: return first + " and " + second + " striped background";
    case Pattern::checker: return first + " and " + second + " checker background";
  }
  return {};
}

std::optional<SceneObject> parse_object(std::string_view text) {
  const std::vector<std::string> w = split_words(text);
  if (w.size() < 4) return std::nullopt;
  const int colour = index_of(colour_names, w[1]);
  const int kind = index_of(kind_names, w[2]);
  const int position = index_of(position_phrases, join_words(w, 3, w.size()));
  if (colour < 0 || kind < 0 || position < 0 || w[0] != article_for(w[1])) return std::nullopt;
  return SceneObject{Colour(colour), Kind(kind), Position(position)};
}

std::optional<Background> parse_background(std::string_view text) {
  const std::vector<std::string> w = split_words(text);
  if (w.size() == 3 && w[0] == "plain" && w[2] == "background") {
    const int c = index_of(background_names, w[1]);
    if (c < 0) return std::nullopt;
    return Background{Pattern::plain, BackgroundColour(c), BackgroundColour(c)};
  }
  if (w.size() != 5 || w[4] != "background") return std::nullopt;
  const int first = index_of(background_names, w[0]);
  const int second = index_of(background_names, w[2]);
  if (first < 0 || second < 0) return std::nullopt;
  Pattern pattern;
  if (w[1] == "to" && w[3] == "gradient") pattern = Pattern::gradient;
  else if (w[1] == "and" && w[3] == "striped") pattern = Pattern::stripes;
  else if (w[1] == "and" && w[3] == "checker") pattern = Pattern::checker;
  else return std::nullopt;
  return Background{pattern, BackgroundColour(first), BackgroundColour(second)};
}

// Splits "X, Y and Z" into its items ("and" never occurs inside an object phrase).
std::vector<std::string> split_list(std::string text) {
  for (std::size_t at; (at = text.find(", ")) != std::string::npos;) text.replace(at, 2, " and ");
  std::vector<std::string> items;
  for (std::size_t from = 0;;) {
    const std::size_t at = text.find(" and ", from);
    items.push_back(text.substr(from, at == std::string::npos ? std::string::npos : at - from));
    if (at == std::string::npos) return items;
    from = at + 5;
  }
}

}  // namespace

RGB rgb_of(Colour colour) {
  static constexpr std::array<RGB, colour_count> table = {{{0.88f, 0.10f, 0.10f},
                                                           {1.00f, 0.50f, 0.00f},
                                                           {1.00f, 0.92f, 0.15f},
                                                           {0.15f, 0.75f, 0.20f},
                                                           {0.15f, 0.85f, 0.95f},
                                                           {0.15f, 0.30f, 1.00f},
                                                           {0.65f, 0.20f, 0.90f},
                                                           {1.00f, 1.00f, 1.00f}}};
  return table[static_cast<int>(colour)];
}

RGB rgb_of(BackgroundColour colour) {
  static constexpr std::array<RGB, background_colour_count> table = {{{0.04f, 0.04f, 0.04f},
                                                                      {0.42f, 0.42f, 0.42f},
                                                                      {0.06f, 0.10f, 0.38f},
                                                                      {0.38f, 0.22f, 0.10f}}};
  return table[static_cast<int>(colour)];
}

std::string_view name_of(Colour colour) { return colour_names[static_cast<int>(colour)]; }
std::string_view name_of(Kind kind) { return kind_names[static_cast<int>(kind)]; }
std::string_view name_of(BackgroundColour colour) { return background_names[static_cast<int>(colour)]; }
std::string_view name_of(Pattern pattern) { return pattern_names[static_cast<int>(pattern)]; }
std::string_view phrase_of(Position position) { return position_phrases[static_cast<int>(position)]; }

int row_of(Position position) { return static_cast<int>(position) / 3; }
int column_of(Position position) { return static_cast<int>(position) % 3; }

bool is_valid(const Scene& scene) {
  const auto& objects = scene.objects;
  if (objects.empty() || objects.size() > max_objects) return false;
  for (std::size_t i = 1; i < objects.size(); ++i)
    if (objects[i - 1].position >= objects[i].position) return false;  // sorted and distinct cells
  const Background& b = scene.background;
  return (b.pattern == Pattern::plain) == (b.first == b.second);
}

Scene canonical(Scene scene) {
  std::stable_sort(scene.objects.begin(), scene.objects.end(),
                   [](const SceneObject& a, const SceneObject& b) { return a.position < b.position; });
  return scene;
}

std::string prompt_of(const Scene& scene) {
  std::vector<std::string> items;
  for (const SceneObject& o : scene.objects) items.push_back(object_phrase(o));
  return list_phrase(items) + " on a " + background_phrase(scene.background);
}

std::optional<Scene> parse_prompt(std::string_view prompt) {
  const std::size_t on = prompt.rfind(" on a ");
  if (on == std::string_view::npos) return std::nullopt;
  const std::optional<Background> background = parse_background(prompt.substr(on + 6));
  if (!background) return std::nullopt;
  Scene scene;
  scene.background = *background;
  for (const std::string& item : split_list(std::string(prompt.substr(0, on)))) {
    const std::optional<SceneObject> object = parse_object(item);
    if (!object) return std::nullopt;
    scene.objects.push_back(*object);
  }
  scene = canonical(std::move(scene));
  if (!is_valid(scene)) return std::nullopt;
  return scene;
}

}  // namespace genplug::mini
