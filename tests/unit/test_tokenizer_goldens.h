// Shared helpers for the tokenizer tests: golden files and comparisons.
#pragma once
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/tokenizers/tokenizer.h"

namespace hl_test {

inline std::filesystem::path shared_dir() { return HEADLIGHT_SHARED_DIR; }
inline std::filesystem::path fixtures() { return shared_dir() / "fixtures" / "tokenizers"; }

inline nlohmann::json load_golden(const std::string& family) {
  std::ifstream in(fixtures() / family / "golden.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

inline hl::TokenizerOptions spm_options(bool legacy = true) {
  hl::TokenizerOptions o;
  o.legacy = legacy;
  o.spm_module_dir = std::filesystem::path(HEADLIGHT_BINARY_DIR) / "lib";
  return o;
}

inline std::vector<int64_t> ids_of(const nlohmann::json& j) { return j.get<std::vector<int64_t>>(); }

inline std::vector<std::pair<int64_t, int64_t>> spans_of(const nlohmann::json& j) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& s : j) out.emplace_back(s[0].get<int64_t>(), s[1].get<int64_t>());
  return out;
}

inline hl::EncodeOptions with_bos(bool add_bos) {
  hl::EncodeOptions o;
  o.add_bos = add_bos;
  return o;
}

}  // namespace hl_test

namespace doctest {
template <>
struct StringMaker<std::pair<int64_t, int64_t>> {
  static String convert(const std::pair<int64_t, int64_t>& p) {
    return ("[" + std::to_string(p.first) + "," + std::to_string(p.second) + ")").c_str();
  }
};
}  // namespace doctest
