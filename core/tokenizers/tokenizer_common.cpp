// Pieces shared by all tokenizer kinds: file reading, special-token splitting, offset conversion.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_read.h"
#include "core/json_limits.h"
#include "core/tokenizers/tokenizer_impl.h"
#include "core/tokenizers/tokenizer_unicode.h"

namespace hl::tok {

std::string read_file(const std::filesystem::path& path) {
  return read_file_bounded(path, kMaxFileBytes, "tokenizer file");
}

ConfigBosEos read_config_bos_eos(const std::filesystem::path& dir) {
  using nlohmann::json;
  ConfigBosEos out;
  const auto path = dir / "tokenizer_config.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return out;
  const json cfg = parse_json_bounded(read_file(path), path.string());
  if (!cfg.is_object()) return out;
  auto content = [&](const char* key) -> std::string {
    if (!cfg.contains(key)) return {};
    const json& v = cfg[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    return {};
  };
  out.bos = content("bos_token");
  out.eos = content("eos_token");
  return out;
}

void SpecialTokenSplitter::add(const std::string& text, int64_t id) {
  if (text.empty()) return;
  auto& bucket = by_first_byte_[static_cast<unsigned char>(text[0])];
  for (auto& [t, i] : bucket)
    if (t == text) return;
  bucket.emplace_back(text, id);
  // Longest first, so the first hit at a position is the longest one.
  std::stable_sort(bucket.begin(), bucket.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

std::vector<TextSpan> SpecialTokenSplitter::split(std::string_view text) const {
  std::vector<TextSpan> out;
  size_t plain_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const auto it = by_first_byte_.find(static_cast<unsigned char>(text[pos]));
    const std::pair<std::string, int64_t>* hit = nullptr;
    if (it != by_first_byte_.end()) {
      for (const auto& cand : it->second) {
        if (text.compare(pos, cand.first.size(), cand.first) == 0) {
          hit = &cand;
          break;
        }
      }
    }
    if (!hit) {
      ++pos;
      continue;
    }
    if (pos > plain_start) out.push_back({plain_start, pos, -1});
    out.push_back({pos, pos + hit->first.size(), hit->second});
    pos += hit->first.size();
    plain_start = pos;
  }
  if (plain_start < text.size()) out.push_back({plain_start, text.size(), -1});
  return out;
}

void fill_char_offsets(std::string_view text, Encoding& enc) {
  const auto index = unicode::byte_to_char_index(text);
  enc.offsets.clear();
  enc.offsets.reserve(enc.byte_offsets.size());
  for (const auto& [b, e] : enc.byte_offsets) {
    if (e <= b) {
      enc.offsets.emplace_back(index[b], index[b]);
    } else {
      enc.offsets.emplace_back(index[b], index[e - 1] + 1);
    }
  }
}

void align_offsets_to_chars(std::string_view text, Encoding& enc) {
  const auto char_of = unicode::byte_to_char_index(text);
  std::vector<int64_t> char_start(char_of.back() + 1, static_cast<int64_t>(text.size()));
  for (size_t b = text.size(); b-- > 0;) char_start[char_of[b]] = static_cast<int64_t>(b);
  const int64_t n = static_cast<int64_t>(text.size());
  enc.offsets.clear();
  for (auto& [b, e] : enc.byte_offsets) {
    const int64_t cb = char_of[std::clamp<int64_t>(b, 0, n)];
    const int64_t ce = char_of[std::clamp<int64_t>(std::max(b, e), 0, n)];
    enc.offsets.emplace_back(cb, ce);
    b = char_start[cb];
    e = char_start[ce];
  }
}

}  // namespace hl::tok
