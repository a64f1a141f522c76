// SteeringSpec JSON reading and writing. Compilation to AttentionBias lives in steering_compile.cpp.
#include "core/file_write.h"
#include "core/steering/steering_spec.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_limits.h"

namespace hl {

using ojson = nlohmann::ordered_json;

namespace {

const std::set<std::string>& common_fields() {
  static const std::set<std::string> f = {"method",     "spans",   "emphasis", "occurrence",    "span_match",
                                          "markers",    "apply_at", "influence_span", "ablate", "ablation"};
  return f;
}

const std::set<std::string>& method_fields(SteeringMethod m) {
  static const std::set<std::string> none, pasta = {"heads", "head_index", "alpha", "scale_position", "multispan"},
                                           guide = {"delta", "layers"}, insta = {"multiplier", "layers"};
  switch (m) {
    case SteeringMethod::Pasta: return pasta;
    case SteeringMethod::Guide: return guide;
    case SteeringMethod::InstaBoost: return insta;
    case SteeringMethod::None: break;
  }
  return none;
}

bool known_anywhere(const std::string& k) {
  if (common_fields().count(k)) return true;
  for (auto m : {SteeringMethod::Pasta, SteeringMethod::Guide, SteeringMethod::InstaBoost})
    if (method_fields(m).count(k)) return true;
  return false;
}

std::string field_ctx(const std::string& where, const std::string& field) { return where + ": field '" + field + "'"; }

double number(const ojson& v, const std::string& ctx) {
  if (!v.is_number()) throw Error(ctx + ": expected a number, got " + v.dump());
  const double d = v.get<double>();
  if (!std::isfinite(d)) throw Error(ctx + ": must be finite");
  return d;
}

int64_t index(const ojson& v, const std::string& ctx) {
  if (!v.is_number_integer()) throw Error(ctx + ": expected a non-negative integer, got " + v.dump());
  const int64_t i = v.get<int64_t>();
  if (i < 0) throw Error(ctx + ": expected a non-negative integer, got " + std::to_string(i));
  return i;
}

std::string string_value(const ojson& v, const std::string& ctx) {
  if (!v.is_string()) throw Error(ctx + ": expected a string, got " + v.dump());
  return v.get<std::string>();
}

template <class E>
E choice(const ojson& v, const std::string& ctx, std::initializer_list<std::pair<const char*, E>> options) {
  const std::string s = string_value(v, ctx);
  std::string names;
  for (const auto& o : options) {
    if (s == o.first) return o.second;
    names += std::string(names.empty() ? "" : ", ") + "\"" + o.first + "\"";
  }
  throw Error(ctx + ": unknown value \"" + s + "\" (expected one of " + names + ")");
}

TokenRange token_range(const ojson& v, const std::string& ctx) {
  if (!v.is_array() || v.size() != 2) throw Error(ctx + ": expected [begin, end], got " + v.dump());
  TokenRange r{index(v[0], ctx + "[0]"), index(v[1], ctx + "[1]")};
  if (r.end <= r.begin)
    throw Error(ctx + ": empty or reversed token range [" + std::to_string(r.begin) + ", " + std::to_string(r.end) +
                ") (end is exclusive)");
  return r;
}

std::vector<SteeringSpan> parse_spans(const ojson& v, const std::string& ctx, SteeringMethod method) {
  if (!v.is_array()) throw Error(ctx + ": expected a list of [begin, end] token ranges, got " + v.dump());
  std::vector<SteeringSpan> out;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string c = ctx + "[" + std::to_string(i) + "]";
    const ojson& s = v[i];
    if (!s.is_array() || (s.size() != 2 && s.size() != 3))
      throw Error(c + ": expected [begin, end] or [begin, end, level], got " + s.dump());
    const TokenRange r = token_range(ojson::array({s[0], s[1]}), c);
    SteeringSpan span{r.begin, r.end, 1.0};
    if (s.size() == 3) {
      span.level = number(s[2], c + "[2]");
      if (method == SteeringMethod::Pasta && span.level != 1.0)
        throw Error(c + ": a span level scales GUIDE's delta; PASTA has no per-span strength");
    }
    out.push_back(span);
  }
  return out;
}

LayerSelection parse_layers(const ojson& v, const std::string& ctx) {
  LayerSelection sel;
  if (v.is_string()) {
    sel.kind = choice<LayerSelection::Kind>(v, ctx,
                                            {{"all", LayerSelection::Kind::All},
                                             {"none", LayerSelection::Kind::None},
                                             {"first", LayerSelection::Kind::First},
                                             {"last", LayerSelection::Kind::Last}});
    return sel;
  }
  if (!v.is_array()) throw Error(ctx + ": expected \"all\", \"none\", \"first\", \"last\" or a list of layers");
  sel.kind = LayerSelection::Kind::List;
  for (size_t i = 0; i < v.size(); ++i) {
    const int64_t l = index(v[i], ctx + "[" + std::to_string(i) + "]");
    if (std::find(sel.list.begin(), sel.list.end(), l) != sel.list.end())
      throw Error(ctx + ": layer " + std::to_string(l) + " is listed twice");
    sel.list.push_back(l);
  }
  return sel;
}

ojson layers_to_json(const LayerSelection& s) {
  switch (s.kind) {
    case LayerSelection::Kind::All: return "all";
    case LayerSelection::Kind::None: return "none";
    case LayerSelection::Kind::First: return "first";
    case LayerSelection::Kind::Last: return "last";
    case LayerSelection::Kind::List: break;
  }
  ojson a = ojson::array();
  for (int64_t l : s.list) a.push_back(l);
  return a;
}

ojson heads_to_json(const HeadSet& h) {
  if (h.is_all()) return "all";
  const auto& e = h.entries();
  const bool whole = std::any_of(e.begin(), e.end(), [](const auto& x) { return x.all_heads; });
  const bool listed = std::any_of(e.begin(), e.end(), [](const auto& x) { return !x.all_heads; });
  // PASTA's JSON cannot mix whole layers and single heads without the model's head count; names can.
  if (whole && listed) return head_set_to_names(h);
  return head_set_to_json(h);
}

}  // namespace

std::vector<int64_t> LayerSelection::resolve(int64_t n_layers, const std::string& where) const {
  if (n_layers <= 0) throw Error(where + ": model has no layers");
  std::vector<int64_t> out;
  switch (kind) {
    case Kind::All:
      for (int64_t l = 0; l < n_layers; ++l) out.push_back(l);
      break;
    case Kind::None: break;
    case Kind::First: out.push_back(0); break;
    case Kind::Last: out.push_back(n_layers - 1); break;
    case Kind::List:
      for (int64_t l : list) {
        if (l < 0 || l >= n_layers)
          throw Error(where + ": layer " + std::to_string(l) + " out of range (model has " + std::to_string(n_layers) +
                      " layers)");
        out.push_back(l);
      }
      break;
  }
  return out;
}

double SteeringSpec::effective_delta() const {
  switch (method) {
    case SteeringMethod::Guide: return delta;
    case SteeringMethod::InstaBoost: return std::log(multiplier);
    default: return 0.0;
  }
}

const char* to_string(SteeringMethod m) {
  switch (m) {
    case SteeringMethod::None: return "none";
    case SteeringMethod::Pasta: return "pasta";
    case SteeringMethod::Guide: return "guide";
    case SteeringMethod::InstaBoost: return "instaboost";
  }
  return "?";
}

const char* to_string(ScalePosition p) {
  switch (p) {
    case ScalePosition::Exclude: return "exclude";
    case ScalePosition::Include: return "include";
    case ScalePosition::Generation: return "generation";
  }
  return "?";
}

namespace {

// A `heads` string naming a head-config file rather than heads ("L3H17", "all").
bool names_a_file(const ojson& v) {
  if (!v.is_string()) return false;
  const std::string s = v.get<std::string>();
  return s.size() > 5 && s.compare(s.size() - 5, 5, ".json") == 0;
}

}  // namespace

SteeringSpec parse_steering_spec(const std::string& json_text, const std::string& where,
                                 const std::filesystem::path& base_dir) {
  check_json_depth(json_text, where);
  ojson j;
  try {
    j = ojson::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": malformed JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(where + ": expected a JSON object, got " + j.dump());
  if (!j.contains("method")) throw Error(where + ": missing field 'method' (\"pasta\", \"guide\", \"instaboost\" or \"none\")");

  SteeringSpec s;
  s.method = choice<SteeringMethod>(j["method"], field_ctx(where, "method"),
                                    {{"none", SteeringMethod::None},
                                     {"pasta", SteeringMethod::Pasta},
                                     {"guide", SteeringMethod::Guide},
                                     {"instaboost", SteeringMethod::InstaBoost}});
  const std::string method_name = to_string(s.method);
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (common_fields().count(k) || method_fields(s.method).count(k)) continue;
    if (known_anywhere(k)) throw Error(field_ctx(where, k) + ": does not apply to method \"" + method_name + "\"");
    throw Error(field_ctx(where, k) + ": unknown field");
  }

  if (s.method == SteeringMethod::Pasta) {
    if (!j.contains("heads")) throw Error(where + ": method \"pasta\" needs field 'heads'");
    if (names_a_file(j["heads"])) {
      std::filesystem::path p = j["heads"].get<std::string>();
      if (p.is_relative() && !base_dir.empty()) p = base_dir / p;
      try {
        s.heads = load_head_config(p);
      } catch (const Error& e) {
        throw Error(field_ctx(where, "heads") + ": " + e.what());
      }
    } else {
      s.heads = parse_head_set(j["heads"], field_ctx(where, "heads"));
    }
    if (j.contains("head_index"))
      s.head_index = choice<HeadIndex>(j["head_index"], field_ctx(where, "head_index"),
                                       {{"query", HeadIndex::Query}, {"kv", HeadIndex::Kv}});
    if (j.contains("alpha")) {
      s.alpha = number(j["alpha"], field_ctx(where, "alpha"));
      if (!(s.alpha > 0))
        throw Error(field_ctx(where, "alpha") + ": must be > 0 (alpha = 0 would remove all other context), got " +
                    j["alpha"].dump());
    }
    if (j.contains("scale_position"))
      s.scale_position = choice<ScalePosition>(j["scale_position"], field_ctx(where, "scale_position"),
                                               {{"exclude", ScalePosition::Exclude},
                                                {"include", ScalePosition::Include},
                                                {"generation", ScalePosition::Generation}});
    if (j.contains("multispan"))
      s.multispan = choice<MultispanRule>(j["multispan"], field_ctx(where, "multispan"),
                                          {{"pasta", MultispanRule::Pasta}, {"union", MultispanRule::Union}});
  }
  if (s.method == SteeringMethod::Guide && j.contains("delta")) s.delta = number(j["delta"], field_ctx(where, "delta"));
  if (s.method == SteeringMethod::InstaBoost) {
    if (!j.contains("multiplier")) throw Error(where + ": method \"instaboost\" needs field 'multiplier'");
    s.multiplier = number(j["multiplier"], field_ctx(where, "multiplier"));
    if (!(s.multiplier > 0)) throw Error(field_ctx(where, "multiplier") + ": must be > 0, got " + j["multiplier"].dump());
  }
  if (j.contains("layers")) s.layers = parse_layers(j["layers"], field_ctx(where, "layers"));
  if (j.contains("ablate")) s.ablate = parse_head_set(j["ablate"], field_ctx(where, "ablate"));
  if (j.contains("ablation")) {
    s.ablation = choice<AblationMode>(j["ablation"], field_ctx(where, "ablation"),
                                      {{"zero", AblationMode::Zero}, {"mean", AblationMode::Mean}});
    if (!j.contains("ablate")) throw Error(field_ctx(where, "ablation") + ": needs field 'ablate' (the heads to ablate)");
  }

  if (j.contains("spans")) s.spans = parse_spans(j["spans"], field_ctx(where, "spans"), s.method);
  if (j.contains("emphasis")) {
    const ojson& e = j["emphasis"];
    const std::string ctx = field_ctx(where, "emphasis");
    if (!e.is_array()) throw Error(ctx + ": expected a list of strings, got " + e.dump());
    for (size_t i = 0; i < e.size(); ++i) {
      const std::string c = ctx + "[" + std::to_string(i) + "]";
      std::string text = string_value(e[i], c);
      if (text.empty()) throw Error(c + ": empty string");
      s.emphasis.push_back(std::move(text));
    }
  }
  if (j.contains("occurrence")) s.occurrence = index(j["occurrence"], field_ctx(where, "occurrence"));
  if (j.contains("span_match"))
    s.span_match = choice<SpanMatch>(j["span_match"], field_ctx(where, "span_match"),
                                     {{"overlap", SpanMatch::Overlap}, {"pasta", SpanMatch::Pasta}});
  if (j.contains("markers")) {
    if (!j["markers"].is_boolean()) throw Error(field_ctx(where, "markers") + ": expected true or false");
    s.markers = j["markers"].get<bool>();
  }
  if (j.contains("apply_at"))
    s.apply_at = choice<ApplyAt>(j["apply_at"], field_ctx(where, "apply_at"),
                                 {{"all", ApplyAt::All}, {"prefill", ApplyAt::Prefill}});
  if (j.contains("influence_span")) {
    const ojson& v = j["influence_span"];
    const std::string ctx = field_ctx(where, "influence_span");
    if (v.is_string()) {
      if (v.get<std::string>().empty()) throw Error(ctx + ": empty string");
      s.influence_text = v.get<std::string>();
    } else {
      s.influence_span = token_range(v, ctx);
    }
  }
  return s;
}

SteeringSpec load_steering_spec(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(file.string() + ": cannot open steering spec");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_steering_spec(ss.str(), file.string(), file.parent_path());
}

std::string steering_spec_to_json(const SteeringSpec& s, int indent) {
  ojson j = ojson::object();
  j["method"] = to_string(s.method);
  switch (s.method) {
    case SteeringMethod::Pasta:
      j["heads"] = heads_to_json(s.heads);
      if (s.head_index == HeadIndex::Kv) j["head_index"] = "kv";
      j["alpha"] = s.alpha;
      j["scale_position"] = to_string(s.scale_position);
      j["multispan"] = s.multispan == MultispanRule::Pasta ? "pasta" : "union";
      break;
    case SteeringMethod::Guide:
      j["delta"] = s.delta;
      j["layers"] = layers_to_json(s.layers);
      break;
    case SteeringMethod::InstaBoost:
      j["multiplier"] = s.multiplier;
      j["layers"] = layers_to_json(s.layers);
      break;
    case SteeringMethod::None: break;
  }
  ojson spans = ojson::array();
  for (const auto& sp : s.spans) {
    ojson a = ojson::array({sp.begin, sp.end});
    if (sp.level != 1.0) a.push_back(sp.level);
    spans.push_back(a);
  }
  j["spans"] = spans;
  if (!s.emphasis.empty()) j["emphasis"] = s.emphasis;
  j["occurrence"] = s.occurrence;
  j["span_match"] = s.span_match == SpanMatch::Overlap ? "overlap" : "pasta";
  j["markers"] = s.markers;
  j["apply_at"] = s.apply_at == ApplyAt::All ? "all" : "prefill";
  if (s.influence_span) j["influence_span"] = ojson::array({s.influence_span->begin, s.influence_span->end});
  if (s.influence_text) j["influence_span"] = *s.influence_text;
  if (!s.ablate.empty()) {
    j["ablate"] = heads_to_json(s.ablate);
    j["ablation"] = to_string(s.ablation);
  }
  return j.dump(indent);
}

void save_steering_spec(const SteeringSpec& spec, const std::filesystem::path& file) {
  const std::string text = steering_spec_to_json(spec);
  write_file_atomic(file, text + "\n");
}

bool operator==(const SteeringSpec& a, const SteeringSpec& b) {
  return a.method == b.method && a.heads == b.heads && a.head_index == b.head_index && a.alpha == b.alpha &&
         a.scale_position == b.scale_position && a.multispan == b.multispan && a.delta == b.delta && a.multiplier == b.multiplier && a.layers == b.layers &&
         a.spans == b.spans && a.emphasis == b.emphasis && a.occurrence == b.occurrence &&
         a.span_match == b.span_match && a.markers == b.markers && a.apply_at == b.apply_at &&
         a.influence_span == b.influence_span && a.influence_text == b.influence_text && a.ablate == b.ablate &&
         (a.ablate.empty() || a.ablation == b.ablation);
}

SteeringSpec with_query_heads(SteeringSpec spec, int64_t n_layers, int64_t n_heads, int64_t n_kv_heads) {
  if (spec.method != SteeringMethod::Pasta || spec.head_index != HeadIndex::Kv) return spec;
  spec.heads = kv_heads_to_query_heads(spec.heads, n_layers, n_heads, n_kv_heads, "steering spec: field 'heads'");
  spec.head_index = HeadIndex::Query;
  return spec;
}

void validate_steering_spec(const SteeringSpec& spec, int64_t n_layers, int64_t n_heads) {
  if (spec.method == SteeringMethod::Pasta && spec.head_index == HeadIndex::Kv)
    throw Error("steering spec: field 'head_index': \"kv\" heads must be mapped to query heads with the model's "
                "KV head count first (with_query_heads)");
  if (spec.method == SteeringMethod::Pasta) spec.heads.validate(n_layers, n_heads, "steering spec: field 'heads'");
  spec.ablate.validate(n_layers, n_heads, "steering spec: field 'ablate'");
  if (spec.method == SteeringMethod::Guide || spec.method == SteeringMethod::InstaBoost)
    (void)spec.layers.resolve(n_layers, "steering spec: field 'layers'");
  if (spec.method == SteeringMethod::Pasta && !(spec.alpha > 0 && std::isfinite(spec.alpha)))
    throw Error("steering spec: field 'alpha': must be a finite number > 0");
  if (spec.method == SteeringMethod::InstaBoost && !(spec.multiplier > 0 && std::isfinite(spec.multiplier)))
    throw Error("steering spec: field 'multiplier': must be a finite number > 0");
  if (spec.method == SteeringMethod::Guide && !std::isfinite(spec.delta))
    throw Error("steering spec: field 'delta': must be finite");
}

}  // namespace hl
