// Prompt adherence counted over scene detector verdicts (scene_detect.hpp): described objects and how many of them
// are right by colour, kind and cell; scenes and how many have the right count, background, or everything right.
// genplug-mini-eval sums one per prompt and one over all renders; the DyPE benchmark (bench/dype_effect) keeps one
// per render and forms its ratios over the units it resamples.
#pragma once
#include <nlohmann/json.hpp>

#include "scene_detect.hpp"

namespace genplug::mini {

struct Tally {
  long objects = 0, right = 0, colour = 0, kind = 0, position = 0, found = 0;
  long scenes = 0, count_right = 0, background_right = 0, all_right = 0;

  void add(const SceneVerdict& v) {
    ++scenes;
    for (const auto& o : v.objects) {
      ++objects;
      right += o.right(), colour += o.colour_right, kind += o.kind_right, position += o.position_right;
      found += o.found();
    }
    count_right += v.count_right, background_right += v.background_right, all_right += v.all_right();
  }
  static double share(long n, long of) { return of ? double(n) / double(of) : 0.0; }
  nlohmann::json to_json() const {
    return {{"objects", objects}, {"objects_right", share(right, objects)}, {"colour_right", share(colour, objects)},
            {"kind_right", share(kind, objects)}, {"position_right", share(position, objects)},
            {"found", share(found, objects)}, {"scenes", scenes}, {"count_right", share(count_right, scenes)},
            {"background_right", share(background_right, scenes)}, {"scenes_all_right", share(all_right, scenes)}};
  }
};

}  // namespace genplug::mini
