#include "analysis/profile_job.h"

#include "core/fnv_hash.h"

namespace hl {

nlohmann::json profile_job_document(const ProfileJobSpec& s) {
  nlohmann::json suites = nlohmann::json::array();
  for (const auto& r : s.suites)
    suites.push_back({{"name", r.name}, {"hash", r.hash}, {"scorer", r.scorer}, {"examples", r.examples}});
  nlohmann::json d = {
      {"format", kProfileResultFormat},
      {"model",
       {{"config_hash", s.model_config_hash}, {"weights", s.model_weights_id}, {"layers", s.layers},
        {"heads", s.heads_per_layer}}},
      {"suites", suites},
      {"examples", s.max_examples},
      {"alpha", s.alpha},
      {"scale_position", s.scale_position},
      {"heads", s.heads},
      {"blocks", {{"heads", s.head_block}, {"examples", s.example_block}}},
      {"max_new_tokens", s.max_new_tokens},
  };
  // nlohmann::json keeps object keys sorted, so dump() is canonical.
  d["fingerprint"] = fnv1a_hex(d.dump());
  return d;
}

std::vector<std::string> profile_job_differences(const nlohmann::json& a, const nlohmann::json& b) {
  std::vector<std::string> out;
  for (const auto& [k, v] : a.items()) {
    if (k == "fingerprint") continue;
    if (!b.contains(k)) {
      out.push_back(k);
      continue;
    }
    if (v == b[k]) continue;
    if (v.is_object() && b[k].is_object()) {
      for (const auto& [k2, v2] : v.items())
        if (!b[k].contains(k2) || b[k][k2] != v2) out.push_back(k + "." + k2);
    } else if (k == "suites" && v.is_array() && b[k].is_array()) {
      if (v.size() != b[k].size()) out.push_back("suites (count)");
      for (size_t i = 0; i < v.size() && i < b[k].size(); ++i)
        for (const auto& [k2, v2] : v[i].items())
          if (!b[k][i].contains(k2) || b[k][i][k2] != v2) out.push_back("suites[" + std::to_string(i) + "]." + k2);
    } else {
      out.push_back(k);
    }
  }
  for (const auto& [k, v] : b.items())
    if (!a.contains(k)) out.push_back(k);
  return out;
}

}  // namespace hl
