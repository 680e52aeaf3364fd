// genplug DyPE — method names and official defaults.
#include "genplug/dype/method.hpp"

#include <utility>

namespace genplug::dype {
namespace {

struct Spelling {
  const char* name;
  Method method;
};

// Canonical names first, then aliases.
constexpr Spelling kSpellings[] = {
    {"rope", Method::rope},       {"pi", Method::pi},
    {"dy-pi", Method::dy_pi},     {"ntk", Method::ntk},
    {"dy-ntk", Method::dy_ntk},   {"yarn", Method::yarn},
    {"dy-yarn", Method::dy_yarn}, {"dy-yarn-legacy", Method::dy_yarn_legacy},
    {"base", Method::rope},  // the official run_dype.py name for plain RoPE
};
constexpr std::size_t kCanonicalCount = 8;

}  // namespace

const char* method_name(Method method) {
  for (std::size_t i = 0; i < kCanonicalCount; ++i)
    if (kSpellings[i].method == method) return kSpellings[i].name;
  return "unknown";
}

std::optional<Method> parse_method(std::string_view name) {
  for (const Spelling& s : kSpellings)
    if (name == s.name) return s.method;
  return std::nullopt;
}

const std::vector<std::string>& method_spellings() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> v;
    for (const Spelling& s : kSpellings) v.emplace_back(s.name);
    return v;
  }();
  return all;
}

const std::vector<Method>& all_methods() {
  static const std::vector<Method> all = [] {
    std::vector<Method> v;
    for (std::size_t i = 0; i < kCanonicalCount; ++i) v.push_back(kSpellings[i].method);
    return v;
  }();
  return all;
}

bool is_dynamic(Method method) {
  return method == Method::dy_pi || method == Method::dy_ntk || method == Method::dy_yarn ||
         method == Method::dy_yarn_legacy;
}

bool is_yarn_family(Method method) {
  return method == Method::yarn || method == Method::dy_yarn || method == Method::dy_yarn_legacy;
}

const char* time_rounding_name(TimeRounding rounding) {
  return rounding == TimeRounding::bf16_pipeline ? "bf16-pipeline" : "exact";
}

double default_lambda_s(Method method) { return method == Method::dy_yarn ? 1.0 : 2.0; }

MethodConfig MethodConfig::defaults(Method method) {
  MethodConfig c;
  c.method = method;
  c.lambda_s = default_lambda_s(method);
  return c;
}

}  // namespace genplug::dype
