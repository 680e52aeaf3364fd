// The mini model's scene grammar: what a scene is and the one sentence that describes it.
//
// A scene is 1-3 objects over a background. Each object has a colour (8 saturated/bright colours), a kind
// (5 shapes) and a position (a cell of a 3x3 grid over the frame); no two objects share a cell. The background
// is plain, a vertical gradient, vertical stripes or a checker, in one or two of 4 dark/neutral colours that no
// object uses. The prompt is canonical (objects in reading order of their cells), so scene -> prompt -> scene
// is exact; docs/mini-model.md has the phrasing rules.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace genplug::mini {

enum class Colour : std::uint8_t { red, orange, yellow, green, cyan, blue, purple, white };
enum class Kind : std::uint8_t { circle, square, triangle, ring, cross };
// Cells of the 3x3 grid in reading order: index = 3 * row + column.
enum class Position : std::uint8_t {
  top_left, top, top_right, left, center, right, bottom_left, bottom, bottom_right
};
enum class BackgroundColour : std::uint8_t { black, grey, navy, brown };
// gradient: first colour at the top edge, second at the bottom. stripes / checker: first colour on the cell
// just right of / below the frame's centre lines (see scene_geometry.hpp).
enum class Pattern : std::uint8_t { plain, gradient, stripes, checker };

inline constexpr int colour_count = 8;
inline constexpr int kind_count = 5;
inline constexpr int position_count = 9;
inline constexpr int background_colour_count = 4;
inline constexpr int pattern_count = 4;
inline constexpr int max_objects = 3;

struct SceneObject {
  Colour colour = Colour::red;
  Kind kind = Kind::circle;
  Position position = Position::center;
  friend bool operator==(const SceneObject& a, const SceneObject& b) {
    return a.colour == b.colour && a.kind == b.kind && a.position == b.position;
  }
};

struct Background {
  Pattern pattern = Pattern::plain;
  BackgroundColour first = BackgroundColour::black;
  BackgroundColour second = BackgroundColour::black;  // == first for plain
  friend bool operator==(const Background& a, const Background& b) {
    return a.pattern == b.pattern && a.first == b.first && a.second == b.second;
  }
};

struct Scene {
  std::vector<SceneObject> objects;  // canonical: sorted by position
  Background background;
  friend bool operator==(const Scene& a, const Scene& b) {
    return a.objects == b.objects && a.background == b.background;
  }
};

// sRGB-encoded colours in [0,1], chosen at least 0.4 apart (Euclidean RGB) from each other and from every
// point between two background colours.
using RGB = std::array<float, 3>;
RGB rgb_of(Colour colour);
RGB rgb_of(BackgroundColour colour);

std::string_view name_of(Colour colour);
std::string_view name_of(Kind kind);
std::string_view name_of(BackgroundColour colour);
std::string_view name_of(Pattern pattern);
// The position phrase as the prompt says it: "at the top left", "in the center", "on the right", ...
std::string_view phrase_of(Position position);

int row_of(Position position);     // 0 top .. 2 bottom
int column_of(Position position);  // 0 left .. 2 right

// Whether a scene follows the grammar: 1-3 objects in distinct cells, sorted by position; the background's
// colours equal for plain and different otherwise.
bool is_valid(const Scene& scene);

// Puts objects in canonical order (by position). Does not check anything else.
Scene canonical(Scene scene);

// The prompt of a valid scene, e.g. "a red circle at the top left and a blue triangle at the bottom right on a
// grey and black checker background".
std::string prompt_of(const Scene& scene);

// The scene a prompt describes, if the prompt is a prompt_of() sentence up to the order of its objects and the
// list's punctuation ("X and Y and Z" is accepted); nullopt otherwise. parse_prompt(prompt_of(s)) == s.
std::optional<Scene> parse_prompt(std::string_view prompt);

}  // namespace genplug::mini
