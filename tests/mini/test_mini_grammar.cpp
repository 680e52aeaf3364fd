// The mini model's scene grammar: portable random numbers, seeded scenes, prompt text and its parser, the
// palette's separation and the geometry that keeps objects apart in every aspect ratio.
#define BOOST_TEST_MODULE mini_grammar
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <set>

#include "rng.hpp"
#include "scene.hpp"
#include "scene_geometry.hpp"
#include "scene_sampler.hpp"

namespace mini = genplug::mini;

namespace {

double distance(const mini::RGB& a, const mini::RGB& b) {
  return std::sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

// Distance from p to the segment a-b, by dense sampling (independent of the detector's closed form).
double distance_to_segment(const mini::RGB& p, const mini::RGB& a, const mini::RGB& b) {
  double best = 1e9;
  for (int i = 0; i <= 1000; ++i) {
    const float t = i / 1000.0f;
    best = std::min(best, distance(p, {a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), a[2] + t * (b[2] - a[2])}));
  }
  return best;
}

}  // namespace

BOOST_AUTO_TEST_CASE(splitmix64_matches_the_reference_stream) {
  // Reference outputs of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
  mini::SplitMix64 rng(0);
  BOOST_TEST(rng.next() == 0xE220A8397B1DCDAFull);
  BOOST_TEST(rng.next() == 0x6E789E6AA1B965F4ull);
  BOOST_TEST(rng.next() == 0x06C45D188009454Full);
}

BOOST_AUTO_TEST_CASE(below_is_in_range_and_roughly_uniform) {
  mini::SplitMix64 rng(42);
  std::array<int, 7> counts{};
  for (int i = 0; i < 70000; ++i) {
    const std::uint32_t v = rng.below(7);
    BOOST_REQUIRE(v < 7);
    ++counts[v];
  }
  for (int c : counts) BOOST_TEST(std::abs(c - 10000) < 500);  // > 5 sigma
  const double u = rng.unit();
  BOOST_TEST((u >= 0.0 && u < 1.0));
}

BOOST_AUTO_TEST_CASE(prompts_are_pinned_per_seed) {
  // Any change to the sampler, the vocabulary or the phrasing changes these (and the training data).
  BOOST_TEST(mini::prompt_of(mini::sample_scene(0)) ==
             "a cyan triangle at the top left and a yellow ring at the bottom right on a plain brown background");
  BOOST_TEST(mini::prompt_of(mini::sample_scene(1)) ==
             "a blue ring at the top left, a red circle at the top right and an orange ring at the bottom on a "
             "navy to brown gradient background");
  BOOST_TEST(mini::prompt_of(mini::sample_scene(3)) ==
             "an orange triangle on the left on a brown and black striped background");
}

BOOST_AUTO_TEST_CASE(sampled_scenes_are_valid_deterministic_and_cover_the_vocabulary) {
  std::set<int> colours, kinds, positions, patterns, backgrounds, counts;
  for (std::uint64_t seed = 0; seed < 2000; ++seed) {
    const mini::Scene scene = mini::sample_scene(seed);
    BOOST_REQUIRE(mini::is_valid(scene));
    BOOST_REQUIRE(scene == mini::sample_scene(seed));
    counts.insert(static_cast<int>(scene.objects.size()));
    for (const auto& o : scene.objects)
      colours.insert(int(o.colour)), kinds.insert(int(o.kind)), positions.insert(int(o.position));
    patterns.insert(int(scene.background.pattern));
    backgrounds.insert(int(scene.background.first)), backgrounds.insert(int(scene.background.second));
  }
  BOOST_TEST(colours.size() == std::size_t(mini::colour_count));
  BOOST_TEST(kinds.size() == std::size_t(mini::kind_count));
  BOOST_TEST(positions.size() == std::size_t(mini::position_count));
  BOOST_TEST(patterns.size() == std::size_t(mini::pattern_count));
  BOOST_TEST(backgrounds.size() == std::size_t(mini::background_colour_count));
  BOOST_TEST(counts.size() == std::size_t(mini::max_objects));
}

BOOST_AUTO_TEST_CASE(prompt_round_trip) {
  for (std::uint64_t seed = 0; seed < 2000; ++seed) {
    const mini::Scene scene = mini::sample_scene(seed);
    const std::string prompt = mini::prompt_of(scene);
    const auto parsed = mini::parse_prompt(prompt);
    BOOST_REQUIRE_MESSAGE(parsed.has_value(), "cannot parse: " << prompt);
    BOOST_REQUIRE_MESSAGE(*parsed == scene, "round trip changed: " << prompt);
  }
}

BOOST_AUTO_TEST_CASE(parser_canonicalises_object_order) {
  const auto scene = mini::parse_prompt(
      "a red cross at the bottom right and an orange ring at the top left on a plain black background");
  BOOST_REQUIRE(scene.has_value());
  BOOST_TEST(mini::prompt_of(*scene) ==
             "an orange ring at the top left and a red cross at the bottom right on a plain black background");
}

BOOST_AUTO_TEST_CASE(parser_rejects_what_the_grammar_cannot_say) {
  for (const char* bad : {
           "a orange ring at the top left on a plain black background",            // article
           "an red ring at the top left on a plain black background",              // article
           "a pink ring at the top left on a plain black background",              // colour
           "a red star at the top left on a plain black background",               // kind
           "a red ring at the middle on a plain black background",                 // position
           "a red ring at the top left",                                           // no background
           "a red ring at the top left on a plain black and grey background",      // plain with two colours
           "a red ring at the top left on a black and black striped background",   // equal colours
           "a red ring at the top left on a red and black checker background",     // object colour as background
           "a red ring at the top left on a black to grey striped background",     // gradient word order
           "a red ring at the top left and a blue ring at the top left on a plain black background",  // same cell
           "a red ring at the top, a red ring at the left, a red ring on the right and a red ring at the bottom "
           "on a plain grey background",  // four objects
           "on a plain black background", ""}) {
    BOOST_TEST_INFO("prompt: " << bad);
    BOOST_TEST(!mini::parse_prompt(bad).has_value());
  }
}

BOOST_AUTO_TEST_CASE(palette_colours_are_well_separated) {
  for (int a = 0; a < mini::colour_count; ++a) {
    const mini::RGB ca = mini::rgb_of(mini::Colour(a));
    for (int b = a + 1; b < mini::colour_count; ++b)
      BOOST_TEST(distance(ca, mini::rgb_of(mini::Colour(b))) >= 0.4, "colours " << a << ", " << b);
    for (int f = 0; f < mini::background_colour_count; ++f)
      for (int s = 0; s < mini::background_colour_count; ++s)
        BOOST_TEST(distance_to_segment(ca, mini::rgb_of(mini::BackgroundColour(f)),
                                       mini::rgb_of(mini::BackgroundColour(s))) >= 0.4,
                   "colour " << a << " vs background " << f << "-" << s);
  }
}

BOOST_AUTO_TEST_CASE(objects_in_neighbouring_cells_keep_apart_in_every_aspect_ratio) {
  // Every kind stays within |x|, |y| <= 1.1 R of its centre (sampled densely; the triangle's corners and the
  // square's reach it or nearly), and neighbouring centres are >= u/3 apart.
  for (int k = 0; k < mini::kind_count; ++k)
    for (double y = -1.5; y <= 1.5; y += 0.01)
      for (double x = -1.5; x <= 1.5; x += 0.01)
        if (mini::shape_covers(mini::Kind(k), x, y)) BOOST_REQUIRE((std::abs(x) <= 1.1 && std::abs(y) <= 1.1));
  for (auto [w, h] : {std::pair{64, 64}, {256, 64}, {64, 256}, {1000, 999}}) {
    const mini::Frame frame{w, h};
    const mini::Point a = mini::cell_center(frame, mini::Position::center);
    const mini::Point right = mini::cell_center(frame, mini::Position::right);
    const mini::Point below = mini::cell_center(frame, mini::Position::bottom);
    const double gap = std::min(right.x - a.x, below.y - a.y) - 2 * 1.1 * mini::object_radius(frame);
    BOOST_TEST(gap >= 0.04 * frame.unit());
    BOOST_TEST((mini::cell_at(frame, a) == mini::Position::center));
  }
}
