// The prompt-adherence detector: does a picture show the scene its prompt describes?
//
// Given any picture (any size and aspect ratio, planar RGB in [0,1]) and the scene of its prompt, it finds the
// objects (detect_blobs.hpp) and matches each described object to at most one of them, then says per object
// whether it was found and whether its colour, kind and cell are right, and for the scene whether the count
// of objects and the background (detect_background.hpp) are right. Pure and deterministic.
#pragma once
#include <vector>

#include "detect_blobs.hpp"
#include "image.hpp"
#include "scene.hpp"

namespace genplug::mini {

struct ObjectVerdict {
  int blob = -1;  // index into SceneVerdict::blobs, -1 when nothing matched
  bool colour_right = false;
  bool kind_right = false;
  bool position_right = false;
  bool found() const { return blob >= 0; }
  bool right() const { return colour_right && kind_right && position_right; }
};

struct SceneVerdict {
  std::vector<Blob> blobs;             // everything found
  std::vector<ObjectVerdict> objects;  // one per scene object, in the scene's order
  bool count_right = false;            // as many blobs as described objects
  double background_fraction = 0;      // of the pixels outside blobs, those matching the background
  bool background_right = false;       // background_fraction >= min_background_fraction
  int objects_right() const;
  bool all_right() const;  // every object right, count right, background right
};

inline constexpr double min_background_fraction = 0.8;

// Matching, in three passes over the described objects (a blob is used once): (1) a blob of the object's
// colour in its cell; (2) the unused blob of its colour nearest to the cell's centre; (3) an unused blob in
// its cell of any colour. The verdict compares the matched blob with the object.
SceneVerdict detect_scene(const Image& image, const Scene& expected);

}  // namespace genplug::mini
