// Which attention heads a steering method touches, and PASTA's head-config file format (methods.md §2.5).
// Accepted forms (all resolve to the same HeadSet):
//   {"18": [23, 13, 0], "22": [5]}   PASTA dict: layer (string key) -> query-head indices in rank order
//   [0, 2]                          PASTA list: every head of these layers
//   ["L3H17", "L8H28", "L5"]        head names; "L5" alone = every head of layer 5
//   "L3H17, L8H28"                  the same as one comma-separated string
//   "all"                           every head of every layer
// Layer order and per-layer head order are kept so that a PASTA file exports back unchanged. Torch-free.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace hl {

// "L{layer}H{head}", the name every message and table uses for a head.
std::string head_name(int64_t layer, int64_t head);

struct HeadRef {
  int64_t layer = 0, head = 0;
  bool operator==(const HeadRef& o) const { return layer == o.layer && head == o.head; }
};

class HeadSet {
 public:
  // One layer's entry: either listed heads (rank order) or every head of the layer.
  struct LayerEntry {
    int64_t layer = 0;
    bool all_heads = false;
    std::vector<int64_t> heads;  // empty when all_heads
  };

  static HeadSet all();  // every head of every layer

  // Adds a head; `where` names the entry in errors. Listing a head twice is an error (PASTA would steer it
  // once, so a duplicate is almost surely a typo in a hand-written config).
  void add(int64_t layer, int64_t head, const std::string& where = "heads");
  // Appends heads to `layer` (creating its entry even when `heads` is empty, as a PASTA file may).
  void add_heads(int64_t layer, const std::vector<int64_t>& heads, const std::string& where = "heads");
  void add_layer(int64_t layer, const std::string& where = "heads");  // every head of `layer`

  bool empty() const { return !all_ && entries_.empty(); }
  bool is_all() const { return all_; }
  const std::vector<LayerEntry>& entries() const { return entries_; }
  // Every (layer, head) pair, in entry order, whole layers expanded. Throws if out of the model's range.
  std::vector<HeadRef> expand(int64_t n_layers, int64_t n_heads) const;
  // Number of heads once expanded against the model dimensions.
  int64_t count(int64_t n_layers, int64_t n_heads) const { return static_cast<int64_t>(expand(n_layers, n_heads).size()); }

  // Throws hl::Error naming the offending entry (e.g. `heads: "L40H2": layer 40 out of range [0, 32)`).
  void validate(int64_t n_layers, int64_t n_heads, const std::string& where = "heads") const;

  // Equal when the same layers carry the same heads in the same rank order (layer order is irrelevant:
  // PASTA files are JSON objects).
  bool operator==(const HeadSet& o) const;
  bool operator!=(const HeadSet& o) const { return !(*this == o); }

 private:
  LayerEntry& entry_for(int64_t layer);
  std::vector<LayerEntry> entries_;
  bool all_ = false;
};

// Parses any accepted form from a JSON value. `where` names the file or field in errors. Use the
// ordered_json overload to keep a PASTA file's layer order.
HeadSet parse_head_set(const nlohmann::ordered_json& value, const std::string& where);
HeadSet parse_head_set(const nlohmann::json& value, const std::string& where);
// Parses text: JSON (object, list, or quoted string) or bare head names ("L3H17,L8H28", "all").
HeadSet parse_head_set_text(std::string_view text, const std::string& where);
// A PASTA head-config file, or a `profile-export` sidecar (its "head_config" field).
HeadSet load_head_config(const std::filesystem::path& file);

// A set written in KV-head indices (SEKA's "kv_head" PASTA configs for GQA models) as query heads: KV head g of
// a layer stands for query heads [g * G, (g + 1) * G), G = n_heads / n_kv_heads, in rank order; whole layers
// stay whole. Throws hl::Error naming the entry when a layer or KV head is out of range.
HeadSet kv_heads_to_query_heads(const HeadSet& kv, int64_t n_layers, int64_t n_heads, int64_t n_kv_heads,
                                const std::string& where);

// PASTA's format. A set made only of whole layers exports as PASTA's list form unless n_heads > 0 is
// given (then whole layers are written out as explicit head lists). "all" needs n_layers and n_heads.
nlohmann::ordered_json head_set_to_json(const HeadSet& set, int64_t n_layers = 0, int64_t n_heads = 0);
std::string head_set_to_pasta_json(const HeadSet& set, int64_t n_layers = 0, int64_t n_heads = 0, int indent = -1);
void save_head_config(const HeadSet& set, const std::filesystem::path& file, int64_t n_layers = 0,
                      int64_t n_heads = 0);
// "L3H17,L3H7,L8" (whole layers as "L8", the full set as "all").
std::string head_set_to_names(const HeadSet& set);

}  // namespace hl
