// Per-model calibration of DyPE's dynamic schedule (docs/dype-effect.md section 6), the decisions without the
// rendering: the switch configs that measure when a model settles its layout, the settled step, the sweep of
// schedule shapes around it and the rule that picks one. calibration_phases.cpp renders and scores; this file
// decides.
//
// The dynamic methods release the interpolation on a fixed curve kappa(t) = lambda_s * u(t)^lambda_t, which
// assumes the layout is settled early. Switch config C_k runs method M at full strength (kappa = lambda_s) for
// the first k of the N evaluations and with kappa = 0 after (a hard step of the dynamic window at tau_k between
// sigma_{k-1} and sigma_k); the mean layout L(k) of its renders rises from L(0) (never interpolated) to L(N)
// (interpolated throughout) and the settled step is where it stops rising.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace genplug::dype_effect {

// k evaluations at full strength; tau: the hard step's sigma (k = 0: none, the config sets lambda_s 0 instead,
// since sigma_0 = 1 is never below a window start in [0, 1]).
struct SwitchPoint {
  int k = 0;
  double tau = 0;
};

// k = 0, stride, 2 stride, ... and always N, for the sigmas of a schedule (N evaluations: N + 1 values, the
// last 0, decreasing). tau_k = (sigma_{k-1} + sigma_k) / 2 for 0 < k < N, tau_N = sigma_{N-1} / 2. Throws
// std::invalid_argument for fewer than 2 sigmas, a last sigma other than 0, a non-decreasing pair or stride < 1.
std::vector<SwitchPoint> switch_points(const std::vector<double>& sigmas, int stride);

// The manifest's posenc ref of method M's official config with the hard step of `point`.
nlohmann::json switch_posenc(const std::string& method, const SwitchPoint& point);

// A mean over units with its bootstrap 95 % interval.
struct Estimate {
  double mean = 0, lo = 0, hi = 0;
  double half_width() const { return (hi - lo) / 2; }
};

// k* = min{k : L(k) >= L(N) - delta}, delta = max(0.02, half-width of L(N)'s interval), sigma = tau_{k*}.
// Undefined (settled = false) when interpolating throughout does not help layout: L(N) <= L(0) + delta.
struct Settling {
  bool settled = false;
  int k = 0;
  double sigma = 0;
  double delta = 0;
  std::string reason;  // "settled" or "no_layout_benefit"
};
inline constexpr double minimum_layout_delta = 0.02;
// `layout[i]` is L at `points[i]`; points as switch_points returns them (k = 0 first, k = N last).
Settling find_settling(const std::vector<SwitchPoint>& points, const std::vector<Estimate>& layout);

// A schedule shape: the dynamic window [end_sigma, start_sigma] and the exponent lambda_t (lambda_s stays M's).
struct Shape {
  double start_sigma = 1, end_sigma = 0, lambda_t = 2;
};
// The official shape of every dynamic method (window [0, 1], lambda_t 2).
inline constexpr Shape official_shape{};

// start_sigma in {1, sigma}, end_sigma in {0, sigma / 2}, lambda_t in {1, 2, 4}: 12 shapes, the official one
// among them (first). Needs a settled `settling`.
std::vector<Shape> sweep_shapes(const Settling& settling);

// The manifest's posenc ref of method M with `shape`: only the fields that differ from the official shape.
nlohmann::json shape_posenc(const std::string& method, const Shape& shape);
int fields_changed(const Shape& shape);

// A shape's scores on the calibration units.
struct ShapeScores {
  Shape shape;
  double objects_right = 0;  // sum right / sum described
  double layout = 0;         // unit mean
  double abs_hf_dev = 0;     // unit mean of |hf_dev|
};

// Feasible: objects_right >= best_static_objects_right - 0.02, layout >= settled_layout - delta and a finite
// |hf_dev| (NaN pixels make it NaN). Among the
// feasible, the smallest |hf_dev|; within 0.01 of it, the fewest fields changed, then the earlier shape. None
// feasible: the official shape. `trace` says why, shape by shape.
struct Selection {
  Shape shape;
  bool official = true;
  std::optional<std::size_t> index;  // the chosen entry of `scores`; none when no shape is feasible
  std::string reason;
  nlohmann::json trace;
};
inline constexpr double objects_right_tolerance = 0.02;
inline constexpr double hf_dev_tie = 0.01;
Selection select_shape(const std::vector<ShapeScores>& scores, double best_static_objects_right,
                       double settled_layout, double delta);

nlohmann::json to_json(const Shape& shape);

}  // namespace genplug::dype_effect
