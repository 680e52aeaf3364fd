#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "report.hpp"

namespace genplug::dype_effect {
namespace {

int decimals_of(const std::string& metric) { return metric == "swd_x100" || metric == "duplicates" ? 2 : 3; }

std::string number(double v, int decimals, bool sign = false) {
  if (!std::isfinite(v)) return "—";
  char text[64];
  std::snprintf(text, sizeof text, sign ? "%+.*f" : "%.*f", decimals, v);
  return text;
}

// The metrics shown in the tables (mf_dev stays in results.json).
bool in_table(const Metric& m) { return m.key != "mf_dev"; }

std::string table_head() {
  std::string head = "| config |", rule = "|---|";
  for (const Metric& m : metrics())
    if (in_table(m)) head += " " + m.heading + " |", rule += "---|";
  return head + "\n" + rule + "\n";
}

std::string display_name(const std::string& baseline) { return baseline == "yarn" ? "YaRN" : "RoPE"; }

}  // namespace

std::string format_interval(const Comparison& c, int decimals) {
  if (!c.delta) return "—";
  return number(*c.delta, decimals, true) + " [" + number(c.lo.value_or(NAN), decimals, true) + ", " +
         number(c.hi.value_or(NAN), decimals, true) + "]";
}

void write_results_markdown(const std::filesystem::path& path, const std::vector<SizeSummary>& sizes,
                            const std::string& intro) {
  std::ofstream md(path);
  if (!md) throw std::runtime_error("cannot write " + path.string());
  md << "# DyPE resolution benchmark: results\n\n" << intro << "\n";
  for (const SizeSummary& s : sizes) {
    md << "\n## " << s.size.label << " (" << s.size.width << " × " << s.size.height << ")\n\n";
    md << table_head();
    auto row = [&](const Cell& c) {
      md << "| " << c.config << (c.rendered_as != c.config && c.config != "real" ? " (= " + c.rendered_as + ")" : "")
         << " |";
      for (const Metric& m : metrics())
        if (in_table(m)) md << " " << number(c.values.at(m.key).full, decimals_of(m.key)) << " |";
      md << "\n";
    };
    row(s.real);
    for (const Cell& c : s.configs) row(c);
    md << "\nSWD floor SWD(R_same, R_ind) x100: " << number(s.swd_floor_x100, 2) << ". n = " << s.units
       << " units, B = " << s.resamples << " resamples.\n";

    bool every_alias = !s.configs.empty();
    for (const Cell& c : s.configs) every_alias = every_alias && c.rendered_as == s.configs.front().rendered_as;
    if (every_alias && s.configs.size() > 1) {
      md << "\nEvery config's spectrum equals " << s.configs.front().rendered_as
         << "'s at every sigma at this size, so one render serves them all: every Δ is 0 (results.json has them).\n";
      continue;
    }
    for (const std::string& baseline : baselines()) {
      const auto it = s.versus.find(baseline);
      md << "\n### Δ vs " << display_name(baseline) << "\n\n";
      if (it == s.versus.end()) {
        md << "(" << baseline << " was not rendered.)\n";
        continue;
      }
      md << table_head();
      for (const Cell& c : s.configs) {
        const auto entries = it->second.find(c.config);
        if (entries == it->second.end()) continue;
        md << "| " << c.config << " |";
        for (const Metric& m : metrics()) {
          if (!in_table(m)) continue;
          const ComparisonEntry& e = entries->second.at(m.key);
          md << " " << format_interval(e.interval, decimals_of(m.key));
          if (e.discordant) md << " (" << e.discordant->first << ":" << e.discordant->second << ")";
          md << " |";
        }
        md << "\n";
      }
    }
  }
}

}  // namespace genplug::dype_effect
