#include "core/file_write.h"
#include "core/steering/head_config.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_limits.h"

namespace hl {

std::string head_name(int64_t layer, int64_t head) {
  return "L" + std::to_string(layer) + "H" + std::to_string(head);
}

namespace {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Parses a non-empty run of decimal digits; anything else (sign, spaces, letters, overflow) is rejected.
bool parse_index(std::string_view s, int64_t& out) {
  if (s.empty() || s.size() > 12) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

template <class Json>
int64_t index_value(const Json& v, const std::string& where) {
  if (!v.is_number_integer())
    throw Error(where + ": expected a non-negative integer, got " + v.dump());
  const int64_t i = v.template get<int64_t>();
  if (i < 0) throw Error(where + ": expected a non-negative integer, got " + std::to_string(i));
  return i;
}

// One "L{l}H{h}" / "L{l}" / "all" name into `set`.
void add_name(HeadSet& set, std::string_view raw, const std::string& where, bool& saw_all) {
  const std::string name = trim(raw);
  const std::string ctx = where + ": \"" + name + "\"";
  if (name == "all") {
    saw_all = true;
    return;
  }
  if (name.size() < 2 || (name[0] != 'L' && name[0] != 'l'))
    throw Error(ctx + ": expected a head name like L3H17 (or L3 for every head of layer 3)");
  const size_t h = name.find_first_of("Hh");
  int64_t layer = 0, head = 0;
  if (h == std::string::npos) {
    if (!parse_index(std::string_view(name).substr(1), layer))
      throw Error(ctx + ": expected a head name like L3H17 (or L3 for every head of layer 3)");
    set.add_layer(layer, ctx);
    return;
  }
  if (!parse_index(std::string_view(name).substr(1, h - 1), layer) ||
      !parse_index(std::string_view(name).substr(h + 1), head))
    throw Error(ctx + ": expected a head name like L3H17 (or L3 for every head of layer 3)");
  set.add(layer, head, ctx);
}

HeadSet from_names(std::string_view text, const std::string& where) {
  HeadSet set;
  bool saw_all = false;
  size_t start = 0;
  int n = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view piece = text.substr(start, comma - start);
    if (trim(piece).empty()) {
      if (comma < text.size() || n > 0) throw Error(where + ": empty head name in \"" + std::string(text) + "\"");
    } else {
      add_name(set, piece, where, saw_all);
      ++n;
    }
    start = comma + 1;
  }
  if (saw_all) {
    if (n > 1) throw Error(where + ": \"all\" cannot be combined with other head names");
    return HeadSet::all();
  }
  if (n == 0) throw Error(where + ": no heads given");
  return set;
}

template <class Json>
HeadSet parse_any(const Json& value, const std::string& where) {
  HeadSet set;
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      const std::string key_ctx = where + ": layer \"" + it.key() + "\"";
      int64_t layer = 0;
      if (!parse_index(it.key(), layer))
        throw Error(key_ctx + ": layer keys must be non-negative integers written as strings");
      if (!it.value().is_array()) throw Error(key_ctx + ": expected a list of head indices, got " + it.value().dump());
      std::vector<int64_t> heads;
      for (size_t i = 0; i < it.value().size(); ++i)
        heads.push_back(index_value(it.value()[i], key_ctx + "[" + std::to_string(i) + "]"));
      set.add_heads(layer, heads, key_ctx);
    }
    return set;
  }
  if (value.is_array()) {
    if (value.empty()) return set;
    const bool names = value[0].is_string();
    bool saw_all = false;
    for (size_t i = 0; i < value.size(); ++i) {
      const std::string ctx = where + "[" + std::to_string(i) + "]";
      if (names) {
        if (!value[i].is_string()) throw Error(ctx + ": mixes head names and layer indices");
        add_name(set, value[i].template get<std::string>(), ctx, saw_all);
      } else {
        if (value[i].is_string()) throw Error(ctx + ": mixes layer indices and head names");
        set.add_layer(index_value(value[i], ctx), ctx);
      }
    }
    if (saw_all) {
      if (value.size() > 1) throw Error(where + ": \"all\" cannot be combined with other head names");
      return HeadSet::all();
    }
    return set;
  }
  if (value.is_string()) return from_names(value.template get<std::string>(), where);
  throw Error(where + ": expected {\"<layer>\": [heads]}, a list of layers, head names like \"L3H17\", or \"all\"; got " +
              value.dump());
}

}  // namespace

HeadSet HeadSet::all() {
  HeadSet s;
  s.all_ = true;
  return s;
}

HeadSet::LayerEntry& HeadSet::entry_for(int64_t layer) {
  for (auto& e : entries_)
    if (e.layer == layer) return e;
  entries_.push_back(LayerEntry{layer, false, {}});
  return entries_.back();
}

void HeadSet::add(int64_t layer, int64_t head, const std::string& where) { add_heads(layer, {head}, where); }

void HeadSet::add_heads(int64_t layer, const std::vector<int64_t>& heads, const std::string& where) {
  if (all_) throw Error(where + ": layer " + std::to_string(layer) + " is already covered by \"all\"");
  if (layer < 0) throw Error(where + ": negative layer index");
  LayerEntry& e = entry_for(layer);
  if (e.all_heads) throw Error(where + ": layer " + std::to_string(layer) + " is already listed as a whole layer");
  for (int64_t head : heads) {
    if (head < 0) throw Error(where + ": negative head index");
    if (std::find(e.heads.begin(), e.heads.end(), head) != e.heads.end())
      throw Error(where + ": " + head_name(layer, head) + " is listed twice");
    e.heads.push_back(head);
  }
}

void HeadSet::add_layer(int64_t layer, const std::string& where) {
  if (all_) throw Error(where + ": layer " + std::to_string(layer) + " is already covered by \"all\"");
  if (layer < 0) throw Error(where + ": negative layer index");
  LayerEntry& e = entry_for(layer);
  if (e.all_heads || !e.heads.empty()) throw Error(where + ": layer " + std::to_string(layer) + " is listed twice");
  e.all_heads = true;
}

std::vector<HeadRef> HeadSet::expand(int64_t n_layers, int64_t n_heads) const {
  validate(n_layers, n_heads);
  std::vector<HeadRef> out;
  if (all_) {
    for (int64_t l = 0; l < n_layers; ++l)
      for (int64_t h = 0; h < n_heads; ++h) out.push_back({l, h});
    return out;
  }
  for (const auto& e : entries_) {
    if (e.all_heads) {
      for (int64_t h = 0; h < n_heads; ++h) out.push_back({e.layer, h});
    } else {
      for (int64_t h : e.heads) out.push_back({e.layer, h});
    }
  }
  return out;
}

void HeadSet::validate(int64_t n_layers, int64_t n_heads, const std::string& where) const {
  if (n_layers <= 0 || n_heads <= 0) throw Error(where + ": model dimensions unknown (layers/heads <= 0)");
  for (const auto& e : entries_) {
    if (e.layer >= n_layers)
      throw Error(where + ": entry " + (e.heads.empty() ? "L" + std::to_string(e.layer) : head_name(e.layer, e.heads[0])) +
                  ": layer " + std::to_string(e.layer) +
                  " out of range (model has " + std::to_string(n_layers) + " layers)");
    for (int64_t h : e.heads)
      if (h >= n_heads)
        throw Error(where + ": entry " + head_name(e.layer, h) + ": head " + std::to_string(h) +
                    " out of range (model has " + std::to_string(n_heads) + " heads per layer)");
  }
}

bool HeadSet::operator==(const HeadSet& o) const {
  if (all_ != o.all_) return false;
  auto by_layer = [](const HeadSet& s) {
    std::map<int64_t, std::pair<bool, std::vector<int64_t>>> m;
    for (const auto& e : s.entries_) m[e.layer] = {e.all_heads, e.heads};
    return m;
  };
  return by_layer(*this) == by_layer(o);
}

HeadSet kv_heads_to_query_heads(const HeadSet& kv, int64_t n_layers, int64_t n_heads, int64_t n_kv_heads,
                                const std::string& where) {
  if (n_kv_heads <= 0 || n_heads % n_kv_heads != 0)
    throw Error(where + ": KV-head indices need a model whose " + std::to_string(n_heads) +
                " query heads split evenly over its KV heads (" + std::to_string(n_kv_heads) + ")");
  kv.validate(n_layers, n_kv_heads, where + " (KV-head indices)");
  if (kv.is_all()) return HeadSet::all();
  const int64_t group = n_heads / n_kv_heads;
  HeadSet out;
  for (const auto& e : kv.entries()) {
    if (e.all_heads) {
      out.add_layer(e.layer, where);
      continue;
    }
    std::vector<int64_t> heads;
    for (int64_t g : e.heads)
      for (int64_t h = g * group; h < (g + 1) * group; ++h) heads.push_back(h);
    out.add_heads(e.layer, heads, where);
  }
  return out;
}

HeadSet parse_head_set(const nlohmann::ordered_json& value, const std::string& where) { return parse_any(value, where); }
HeadSet parse_head_set(const nlohmann::json& value, const std::string& where) { return parse_any(value, where); }

HeadSet parse_head_set_text(std::string_view text, const std::string& where) {
  const std::string t = trim(text);
  if (t.empty()) throw Error(where + ": empty head specification");
  if (t[0] == '{' || t[0] == '[' || t[0] == '"') {
    check_json_depth(t, where);
    nlohmann::ordered_json j;
    try {
      j = nlohmann::ordered_json::parse(t);
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + ": malformed JSON: " + e.what());
    }
    return parse_any(j, where);
  }
  return from_names(t, where);
}

HeadSet load_head_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(file.string() + ": cannot open head config");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  // A profile-export sidecar (heads.scores.json) carries the head config under "head_config", next to its scores.
  if (text.find("\"head_config\"") != std::string::npos) {
    check_json_depth(text, file.string());
    const nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, false);
    if (j.is_object() && j.contains("head_config"))
      return parse_any(j["head_config"], file.string() + ": field \"head_config\"");
  }
  return parse_head_set_text(text, file.string());
}

nlohmann::ordered_json head_set_to_json(const HeadSet& set, int64_t n_layers, int64_t n_heads) {
  if (set.is_all()) {
    if (n_layers <= 0 || n_heads <= 0)
      throw Error("head config export: \"all\" needs the model's layer and head counts to be written as PASTA JSON");
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (int64_t l = 0; l < n_layers; ++l) {
      auto& heads = out[std::to_string(l)] = nlohmann::ordered_json::array();
      for (int64_t h = 0; h < n_heads; ++h) heads.push_back(h);
    }
    return out;
  }
  const auto& entries = set.entries();
  const bool only_whole_layers =
      !entries.empty() && std::all_of(entries.begin(), entries.end(), [](const auto& e) { return e.all_heads; });
  if (only_whole_layers && n_heads <= 0) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& e : entries) out.push_back(e.layer);
    return out;
  }
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& e : entries) {
    auto& heads = out[std::to_string(e.layer)] = nlohmann::ordered_json::array();
    if (e.all_heads) {
      if (n_heads <= 0)
        throw Error("head config export: whole layer L" + std::to_string(e.layer) +
                    " mixed with single heads needs the model's head count");
      for (int64_t h = 0; h < n_heads; ++h) heads.push_back(h);
    } else {
      for (int64_t h : e.heads) heads.push_back(h);
    }
  }
  return out;
}

std::string head_set_to_pasta_json(const HeadSet& set, int64_t n_layers, int64_t n_heads, int indent) {
  return head_set_to_json(set, n_layers, n_heads).dump(indent);
}

void save_head_config(const HeadSet& set, const std::filesystem::path& file, int64_t n_layers, int64_t n_heads) {
  const std::string text = head_set_to_pasta_json(set, n_layers, n_heads);
  write_file_atomic(file, text + "\n");
}

std::string head_set_to_names(const HeadSet& set) {
  if (set.is_all()) return "all";
  std::string out;
  for (const auto& e : set.entries()) {
    if (e.all_heads) {
      out += (out.empty() ? "L" : ",L") + std::to_string(e.layer);
      continue;
    }
    for (int64_t h : e.heads) out += (out.empty() ? "" : ",") + head_name(e.layer, h);
  }
  return out;
}

}  // namespace hl
