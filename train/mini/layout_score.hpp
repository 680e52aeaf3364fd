// Layout relative to the frame (docs/dype-effect.md section 2.2): how far the detector's matches lie from where
// the prompt puts the objects, in frame-relative units, plus two counts of extrapolation failures: repeated
// objects (duplicates) and objects placed at the training frame's pixel positions (anchored).
//
// All three read a SceneVerdict (scene_detect.hpp) of the picture and the scene it was scored against.
#pragma once
#include <cstddef>
#include <vector>

#include "scene.hpp"
#include "scene_detect.hpp"
#include "scene_geometry.hpp"

namespace genplug::mini {

// The frame the mini model was trained at (8 x 8 tokens of 16 px).
inline constexpr Frame mini_training_frame{128, 128};

// Per-object layout loss l = min(3 d, 1), d = hypot((c.x - e.x) / W, (c.y - e.y) / H) with e = cell_center(frame,
// position) and c the matched blob's centroid: 0 on the spot, 1/2 half a cell off, 1 a cell (1/3) or more off.
double layout_loss(const Frame& frame, Position position, Point centroid);

// l_o for each described object in scene order; 1 when the detector matched nothing to it (any pass, so colour
// is ignored). Throws std::invalid_argument when the verdict has not one entry per scene object.
std::vector<double> layout_losses(const SceneVerdict& verdict, const Scene& scene, const Frame& frame);

// layout = 1 - mean_o l_o, in [0, 1]; 1 for a scene without objects.
double layout_score(const SceneVerdict& verdict, const Scene& scene, const Frame& frame);

// Blobs no object was matched to whose colour and (detected) kind equal some described object's: repetitions.
int duplicate_count(const SceneVerdict& verdict, const Scene& scene);

// Whether some copy of object `object` has its centroid within training.unit() / 6 px of cell_center(training, its
// position), i.e. sits where the object would be in the training frame. A copy is its matched blob or any blob
// of its colour and kind, except one matched to another object of that colour and kind (that object's own
// rendition). Copies other than the match count because a model that repeats the training picture draws the
// object at several places, and the detector matches the one nearest the intended cell (pass 2 by colour
// alone, possibly to another object of the same colour), which need not be the copy at the training position.
bool is_anchored(const SceneVerdict& verdict, const Scene& scene, std::size_t object, const Frame& training);

// Fraction of described objects that are anchored; 0 for a scene without objects.
double anchored_fraction(const SceneVerdict& verdict, const Scene& scene, const Frame& training = mini_training_frame);

}  // namespace genplug::mini
