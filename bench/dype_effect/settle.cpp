#include "settle.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace genplug::dype_effect {

using nlohmann::json;

std::vector<SwitchPoint> switch_points(const std::vector<double>& sigmas, int stride) {
  if (sigmas.size() < 2 || sigmas.back() != 0.0)
    throw std::invalid_argument("switch points need a schedule of at least one step ending at sigma 0");
  for (std::size_t i = 1; i < sigmas.size(); ++i)
    if (!(sigmas[i] < sigmas[i - 1])) throw std::invalid_argument("switch points need decreasing sigmas");
  if (stride < 1) throw std::invalid_argument("the switch points' stride must be at least 1");
  const int n = int(sigmas.size()) - 1;
  std::vector<SwitchPoint> points;
  for (int k = 0; k < n; k += stride) points.push_back({k, k == 0 ? 0.0 : (sigmas[k - 1] + sigmas[k]) / 2});
  points.push_back({n, sigmas[n - 1] / 2});
  return points;
}

json switch_posenc(const std::string& method, const SwitchPoint& point) {
  json config = {{"method", method}};
  if (point.k == 0) {
    config["lambda_s"] = 0;
  } else {
    // u(t) = 1 for t >= tau, else 0: kappa = lambda_s before the step and 0 after.
    config["dynamic_start_sigma"] = point.tau;
    config["dynamic_end_sigma"] = point.tau;
  }
  return {{"plugin", "org.genplug.dype"}, {"config", config}};
}

Settling find_settling(const std::vector<SwitchPoint>& points, const std::vector<Estimate>& layout) {
  if (points.size() < 2 || points.size() != layout.size() || points.front().k != 0)
    throw std::invalid_argument("a settling curve needs L(0), L(N) and one estimate per switch point");
  Settling s;
  const Estimate& last = layout.back();
  s.delta = std::max(minimum_layout_delta, last.half_width());
  if (!(last.mean > layout.front().mean + s.delta)) {
    s.reason = "no_layout_benefit";
    return s;
  }
  for (std::size_t i = 0; i < points.size(); ++i)
    if (layout[i].mean >= last.mean - s.delta) {
      s.settled = true, s.k = points[i].k, s.sigma = points[i].tau, s.reason = "settled";
      return s;
    }
  throw std::logic_error("find_settling: L(N) is not within delta of itself");  // unreachable
}

std::vector<Shape> sweep_shapes(const Settling& settling) {
  if (!settling.settled) throw std::invalid_argument("sweep_shapes needs a settled model");
  std::vector<Shape> shapes = {official_shape};
  for (double start : {1.0, settling.sigma})
    for (double end : {0.0, settling.sigma / 2})
      for (double lambda_t : {1.0, 2.0, 4.0}) {
        const Shape s{start, end, lambda_t};
        if (fields_changed(s) > 0) shapes.push_back(s);
      }
  return shapes;
}

json shape_posenc(const std::string& method, const Shape& shape) {
  json config = {{"method", method}};
  if (shape.start_sigma != official_shape.start_sigma) config["dynamic_start_sigma"] = shape.start_sigma;
  if (shape.end_sigma != official_shape.end_sigma) config["dynamic_end_sigma"] = shape.end_sigma;
  if (shape.lambda_t != official_shape.lambda_t) config["lambda_t"] = shape.lambda_t;
  return {{"plugin", "org.genplug.dype"}, {"config", config}};
}

int fields_changed(const Shape& shape) {
  return int(shape.start_sigma != official_shape.start_sigma) + int(shape.end_sigma != official_shape.end_sigma) +
         int(shape.lambda_t != official_shape.lambda_t);
}

namespace {

// Why a shape is out, or "feasible".
std::string feasibility(const ShapeScores& s, double best_static, double settled_layout, double delta) {
  if (s.objects_right < best_static - objects_right_tolerance) return "objects_right below the best static method's";
  if (s.layout < settled_layout - delta) return "layout below the settled layout";
  if (!std::isfinite(s.abs_hf_dev)) return "hf_dev not finite";
  return "feasible";
}

// True when candidate a is preferred to b, both feasible and within the tie margin of the best |hf_dev|.
bool preferred(const ShapeScores& a, const ShapeScores& b) { return fields_changed(a.shape) < fields_changed(b.shape); }

}  // namespace

Selection select_shape(const std::vector<ShapeScores>& scores, double best_static_objects_right,
                       double settled_layout, double delta) {
  Selection selection;
  selection.trace = json::array();
  double best_hf = INFINITY;
  std::vector<const ShapeScores*> feasible;
  for (const ShapeScores& s : scores) {
    const std::string verdict = feasibility(s, best_static_objects_right, settled_layout, delta);
    selection.trace.push_back({{"shape", to_json(s.shape)}, {"objects_right", s.objects_right},
                               {"layout", s.layout}, {"abs_hf_dev", s.abs_hf_dev}, {"verdict", verdict}});
    if (verdict != "feasible") continue;
    feasible.push_back(&s);
    best_hf = std::min(best_hf, s.abs_hf_dev);
  }
  if (feasible.empty()) {
    selection.reason = "no feasible shape: the official one is kept";
    return selection;
  }
  const ShapeScores* chosen = nullptr;
  for (const ShapeScores* s : feasible)  // in sweep order, so the earlier shape wins a full tie
    if (s->abs_hf_dev <= best_hf + hf_dev_tie && (!chosen || preferred(*s, *chosen))) chosen = s;
  selection.shape = chosen->shape;
  selection.index = std::size_t(chosen - scores.data());
  selection.official = fields_changed(chosen->shape) == 0;
  selection.reason = "least |hf_dev| of the feasible shapes, ties within 0.01 to the fewest fields changed";
  return selection;
}

json to_json(const Shape& shape) {
  return {{"dynamic_start_sigma", shape.start_sigma}, {"dynamic_end_sigma", shape.end_sigma},
          {"lambda_t", shape.lambda_t}};
}

}  // namespace genplug::dype_effect
