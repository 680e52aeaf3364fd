// One picture's scores (docs/dype-effect.md section 2): the detector's adherence counts, layout relative to the
// frame, duplicates and anchored objects, the radially averaged power spectrum with hf_dev / mf_dev against the
// exact render of the same scene at the same size, and the picture's SWD projections. A generated render and an
// exact one ("real" row) are scored by the same function.
#pragma once
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/adherence_tally.hpp"
#include "experiment.hpp"
#include "image.hpp"
#include "radial_spectrum.hpp"
#include "sliced_wasserstein.hpp"

namespace genplug::dype_effect {

struct RenderRecord {
  int unit = 0;
  mini::Tally tally;                 // this render's verdict alone (scenes = 1)
  std::vector<bool> object_right;    // per described object, in scene order (for discordant pairs)
  double layout = 0;                 // 1 - mean layout loss
  int duplicates = 0;
  int anchored = 0;                  // described objects placed at the training frame's pixel positions
  mini::RadialSpectrum raps{};
  double hf_dev = 0, mf_dev = 0;     // log10 band ratios against the exact render's spectrum
  std::vector<double> projections;   // the thumbnail's SWD projections (K values)
  double render_seconds = 0, score_seconds = 0;
};

// Scores `image` (a render of `unit` at its size) against the exact render's spectrum `reference`.
RenderRecord score_picture(const mini::Image& image, const Unit& unit, const mini::RadialSpectrum& reference,
                           const mini::SlicedDirections& directions);

// The directions for pictures of a size: D = 3 x the thumbnail's pixels (thumbnail.hpp).
mini::SlicedDirections directions_for(const Size& size);

// The picture shown in a grid: box-averaged by a whole factor to short side 128 (1:1 when it is 128 already).
mini::Image grid_picture(const mini::Image& image);

// One line of cells/<size>/<config>/scores.jsonl: every per-render score but the projections.
nlohmann::json to_json(const RenderRecord& record);

}  // namespace genplug::dype_effect
