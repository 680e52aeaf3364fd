#include "calibration_report.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "calibrate.hpp"

namespace genplug::dype_effect {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json scores_json(const ShapeScores& s) {
  return {{"objects_right", s.objects_right}, {"layout", s.layout}, {"abs_hf_dev", s.abs_hf_dev}};
}

json settling_curve_json(const SettlePhase& p) {
  json curve = json::array();
  for (std::size_t i = 0; i < p.points.size(); ++i)
    curve.push_back({{"k", p.points[i].k},
                     {"tau", p.points[i].k == 0 ? json(nullptr) : json(p.points[i].tau)},
                     {"layout", p.layout[i].mean},
                     {"layout_interval", {p.layout[i].lo, p.layout[i].hi}},
                     {"objects_right", p.objects_right[i]}});
  return curve;
}

json settling_json(const Settling& s) {
  return {{"settled", s.settled}, {"k", s.settled && s.k >= 0 ? json(s.k) : json(nullptr)},
          {"sigma", s.settled ? json(s.sigma) : json(nullptr)}, {"delta", s.delta}, {"reason", s.reason}};
}

std::string fixed(double v, int digits = 3) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, v);
  return text;
}

void write_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  std::error_code ec;
  {
    std::ofstream out(tmp);
    out << text;
    if (!out.flush()) {
      fs::remove(tmp, ec);
      throw std::runtime_error("cannot write " + tmp.string());
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    const std::string why = ec.message();
    fs::remove(tmp, ec);
    throw std::runtime_error("cannot write " + path.string() + ": " + why);
  }
}

// ---- Markdown ----

void curve_table(std::ostringstream& md, const SettlePhase& p) {
  md << "| k (evaluations interpolated) | switch at sigma | layout L(k) [95 % interval] | objects right |\n"
     << "|---|---|---|---|\n";
  for (std::size_t i = 0; i < p.points.size(); ++i)
    md << "| " << p.points[i].k << " | " << (p.points[i].k == 0 ? "none (lambda_s 0)" : fixed(p.points[i].tau))
       << " | " << fixed(p.layout[i].mean) << " [" << fixed(p.layout[i].lo) << ", " << fixed(p.layout[i].hi)
       << "] | " << fixed(p.objects_right[i]) << " |\n";
}

void sweep_table(std::ostringstream& md, const Selection& selection) {
  md << "| start sigma | end sigma | lambda_t | objects right | layout | mean abs hf_dev | verdict |\n"
     << "|---|---|---|---|---|---|---|\n";
  for (const json& row : selection.trace) {
    const json& s = row.at("shape");
    md << "| " << fixed(s.at("dynamic_start_sigma").get<double>()) << " | "
       << fixed(s.at("dynamic_end_sigma").get<double>()) << " | " << s.at("lambda_t").get<double>() << " | "
       << fixed(row.at("objects_right").get<double>()) << " | " << fixed(row.at("layout").get<double>()) << " | "
       << fixed(row.at("abs_hf_dev").get<double>()) << " | " << row.at("verdict").get<std::string>() << " |\n";
  }
}

}  // namespace

json report_json(const CalibrationResult& r, const std::vector<std::string>& arguments) {
  json statics = json::object();
  for (const auto& [name, s] : r.settle.statics) statics[name] = scores_json(s);
  return {{"program", "genplug-dype-calibrate"},
          {"arguments", arguments},
          {"method", r.method},
          {"size", to_json(r.size)},
          {"units", r.units},
          {"unit_seeds", {{"scene", calibration_scene_seed_base}, {"noise", calibration_noise_seed_base}}},
          {"steps", r.settle.steps},
          {"mu", r.settle.mu},
          {"sigmas", r.settle.sigmas},
          {"settling_curve", settling_curve_json(r.settle)},
          {"settling", settling_json(r.settle.settling)},
          {"sweep_around", settling_json(r.sweep_around)},
          {"static_methods", statics},
          {"best_static_objects_right", r.settle.best_static_objects_right},
          {"official", scores_json(r.settle.official)},
          {"sweep", r.selection.trace},
          {"selection", {{"shape", to_json(r.selection.shape)}, {"official", r.selection.official},
                         {"reason", r.selection.reason}, {"posenc", r.posenc}}},
          {"seconds", r.seconds}};
}

std::string report_markdown(const CalibrationResult& r) {
  std::ostringstream md;
  md << "# DyPE schedule calibration: " << r.method << " at " << r.size.label << " (" << r.size.width << " x "
     << r.size.height << ")\n\n"
     << "genplug-dype-calibrate, " << r.units << " calibration units (scene seeds " << calibration_scene_seed_base
     << "+i, noise seeds " << calibration_noise_seed_base << "+i), " << r.settle.steps << " steps, mu pinned to "
     << fixed(r.settle.mu, 6) << ". Method: docs/dype-effect.md section 6.\n\n## When the model settles layout\n\n"
     << "Switch config C_k: " << r.method << " at full strength for the first k evaluations, kappa = 0 (no "
     << "interpolation) after.\n\n";
  curve_table(md, r.settle);
  md << "\nSettling: " << r.settle.settling.reason;
  if (r.settle.settling.settled)
    md << " at k* = " << r.settle.settling.k << ", sigma_settle = " << fixed(r.settle.settling.sigma);
  md << " (delta " << fixed(r.settle.settling.delta) << ").\n\n## Sweep\n\n";
  if (r.sweep.empty()) {
    md << "Not run: the model did not settle, so the official schedule is kept.\n";
  } else {
    md << "Around sigma " << fixed(r.sweep_around.sigma) << " (" << r.sweep_around.reason << ").\n\n";
    sweep_table(md, r.selection);
  }
  md << "\n## Result\n\n`" << r.posenc.dump() << "`: " << r.selection.reason << ".\n\n"
     << "| posenc | objects right | layout | mean abs hf_dev |\n|---|---|---|---|\n";
  auto row = [&md](const std::string& name, const ShapeScores& s) {
    md << "| " << name << " | " << fixed(s.objects_right) << " | " << fixed(s.layout) << " | " << fixed(s.abs_hf_dev)
       << " |\n";
  };
  for (const auto& [name, s] : r.settle.statics) row(name, s);
  row(r.method + " (official schedule)", r.settle.official);
  if (!r.selection.official) row(r.method + " (calibrated)", r.chosen);
  return md.str();
}

fs::path write_calibration(const fs::path& out, const CalibrationResult& r, const std::vector<std::string>& arguments) {
  fs::create_directories(out);
  const std::string stem = r.method + "-" + r.size.label;
  // An earlier run's three files go first: each is renamed into place on its own, so one stopped between two
  // renames would otherwise leave its report beside the earlier run's posenc file. Only this method and size's.
  for (const std::string& name : {stem + ".json", stem + ".report.json", stem + ".md"}) fs::remove(out / name);
  write_atomically(out / (stem + ".report.json"), report_json(r, arguments).dump(2) + "\n");
  write_atomically(out / (stem + ".md"), report_markdown(r));
  write_atomically(out / (stem + ".json"), r.posenc.dump(2) + "\n");
  return out / (stem + ".json");
}

}  // namespace genplug::dype_effect
