#include "render_record.hpp"

#include <algorithm>
#include <chrono>

#include "layout_score.hpp"
#include "scene_detect.hpp"
#include "thumbnail.hpp"

namespace genplug::dype_effect {

RenderRecord score_picture(const mini::Image& image, const Unit& unit, const mini::RadialSpectrum& reference,
                           const mini::SlicedDirections& directions) {
  const auto start = std::chrono::steady_clock::now();
  RenderRecord r;
  r.unit = unit.index;
  const mini::SceneVerdict verdict = mini::detect_scene(image, unit.scene);
  r.tally.add(verdict);
  for (const mini::ObjectVerdict& o : verdict.objects) r.object_right.push_back(o.right());
  const mini::Frame frame{image.width, image.height};
  r.layout = mini::layout_score(verdict, unit.scene, frame);
  r.duplicates = mini::duplicate_count(verdict, unit.scene);
  for (std::size_t i = 0; i < unit.scene.objects.size(); ++i)
    r.anchored += mini::is_anchored(verdict, unit.scene, i, mini::mini_training_frame);
  r.raps = mini::radial_spectrum(image);
  r.hf_dev = mini::high_frequency_deviation(r.raps, reference);
  r.mf_dev = mini::middle_frequency_deviation(r.raps, reference);
  r.projections = mini::project(directions, mini::thumbnail(image).planar);
  r.score_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

mini::SlicedDirections directions_for(const Size& size) {
  const int f = mini::thumbnail_factor(size.width, size.height);
  return mini::sliced_directions(std::size_t(3) * (size.width / f) * (size.height / f));
}

mini::Image grid_picture(const mini::Image& image) {
  const int factor = std::max(1, std::min(image.width, image.height) / training_side);
  return factor == 1 ? image : mini::box_downsample(image, factor);
}

nlohmann::json to_json(const RenderRecord& r) {
  return {{"unit", r.unit},
          {"objects", r.tally.objects},
          {"right", r.tally.right},
          {"found", r.tally.found},
          {"kind_right", r.tally.kind},
          {"colour_right", r.tally.colour},
          {"position_right", r.tally.position},
          {"count_right", r.tally.count_right == 1},
          {"background_right", r.tally.background_right == 1},
          {"all_right", r.tally.all_right == 1},
          {"object_right", r.object_right},
          {"layout", r.layout},
          {"duplicates", r.duplicates},
          {"anchored", r.anchored},
          {"hf_dev", r.hf_dev},
          {"mf_dev", r.mf_dev},
          {"raps", r.raps},
          {"render_seconds", r.render_seconds},
          {"score_seconds", r.score_seconds}};
}

}  // namespace genplug::dype_effect
