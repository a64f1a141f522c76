#include "analysis/task_scorers.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <nlohmann/json.hpp>

namespace hl {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool value_holds(const nlohmann::json& v, const std::string& label_lc) {
  if (v.is_string()) {
    const std::string s = lower(v.get<std::string>());
    return s == label_lc || s.find(label_lc) != std::string::npos;
  }
  return false;
}

}  // namespace

double logprob_margin(const float* lp, bool has_versus) {
  return static_cast<double>(lp[0]) - (has_versus ? static_cast<double>(lp[1]) : 0.0);
}

double label_accuracy(const std::vector<float>& label_lp, int64_t correct) {
  if (label_lp.empty() || correct < 0 || correct >= static_cast<int64_t>(label_lp.size())) return 0.0;
  const auto best = std::max_element(label_lp.begin(), label_lp.end()) - label_lp.begin();
  return best == correct ? 1.0 : 0.0;
}

JsonFormatScore json_format_score(const std::string& text, const std::string& label) {
  JsonFormatScore r;
  const std::string label_lc = lower(label);
  // Generations are short (max_new_tokens), so trying every '{' ... '}' pair is cheap.
  for (size_t i = text.find('{'); i != std::string::npos; i = text.find('{', i + 1)) {
    for (size_t j = text.find('}', i); j != std::string::npos; j = text.find('}', j + 1)) {
      const nlohmann::json v = nlohmann::json::parse(text.substr(i, j - i + 1), nullptr, false);
      if (v.is_discarded() || !v.is_object()) continue;
      r.format_ok = true;
      for (const auto& item : v.items())
        if (value_holds(item.value(), label_lc)) r.prediction_ok = true;
      if (r.prediction_ok) return r;
    }
  }
  return r;
}

PronounScore pronoun_change_score(const std::string& text) {
  static const std::set<std::string> sub = {"she", "he"};
  static const std::set<std::string> all = {"she", "he", "her", "him", "hers", "his", "herself", "himself"};
  PronounScore r{true, true};
  std::string word;
  auto flush = [&] {
    if (sub.count(word)) r.acc = false;
    if (all.count(word)) r.all = false;
    word.clear();
  };
  for (char c : text) {
    if (std::isalpha(static_cast<unsigned char>(c))) word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else flush();
  }
  flush();
  return r;
}

}  // namespace hl
