#include "core/file_write.h"
#include "storage/run_export.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>

#include "core/error.h"
#include "core/json_limits.h"
#include "core/formats/safetensors.h"
#include "storage/heatmap_png.h"

namespace hl::store {
namespace {

using nlohmann::json;

json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// The shortest decimal that reads back as the same float, so 0.4f prints as 0.4, not 0.4000000059604645.
std::string shortest_float(float v) {
  if (!std::isfinite(v)) return "";
  char buf[32];
  for (int prec = 6; prec <= 9; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, static_cast<double>(v));
    if (std::strtof(buf, nullptr) == v) break;
  }
  return buf;
}

json float_or_null(float v) { return std::isfinite(v) ? json(std::strtod(shortest_float(v).c_str(), nullptr)) : json(nullptr); }

json run_fields(const RunRecord& r) {
  json j = {{"id", r.id},
            {"model_id", r.model_id},
            {"prompt_id", r.prompt_id ? json(*r.prompt_id) : json(nullptr)},
            {"spec_id", r.spec_id ? json(*r.spec_id) : json(nullptr)},
            {"kind", r.kind},
            {"status", r.status},
            {"seed", r.seed},
            {"sampling",
             {{"temperature", r.sampling.temperature},
              {"top_p", r.sampling.top_p},
              {"top_k", r.sampling.top_k},
              {"max_new_tokens", r.sampling.max_new_tokens}}},
            {"created_at", r.created_at},
            {"finished_at", r.finished_at.empty() ? json(nullptr) : json(r.finished_at)},
            {"note", r.note}};
  return j;
}

RunRecord require_run(const Store& store, int64_t run_id) {
  auto run = store.get_run(run_id);
  if (!run) throw Error(store.path() + ": no run " + std::to_string(run_id));
  return *run;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// Shortest decimal that reads back as the same double (0.3, not 0.29999999999999999).
std::string csv_number(double v) {
  if (!std::isfinite(v)) return "";
  char buf[40];
  for (int prec = 15; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace

namespace {

json niah_cell_json(const NiahCell& c) {
  json by_layer = json::array();
  for (double v : c.influence_by_layer) by_layer.push_back(number_or_null(v));
  auto opt = [](const std::optional<double>& v) { return v ? number_or_null(*v) : json(nullptr); };
  return {{"strength", c.strength},
          {"context_length", c.context_length},
          {"depth_percent", c.depth_percent},
          {"realised_depth", opt(c.realised_depth)},
          {"n_samples", c.n_samples},
          {"mean_score", number_or_null(c.mean_score)},
          {"mean_influence", opt(c.mean_influence)},
          {"mean_rollout", opt(c.mean_rollout)},
          {"answer", c.answer},
          {"influence_by_layer", by_layer}};
}

json matrix_json(const FloatMatrix& m) {
  json rows = json::array();
  for (int64_t r = 0; r < m.rows; ++r) {
    json row = json::array();
    for (int64_t c = 0; c < m.cols; ++c) row.push_back(float_or_null(m.values[static_cast<size_t>(r * m.cols + c)]));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

json run_list_to_json(const std::vector<RunSummary>& runs) {
  json arr = json::array();
  for (const auto& s : runs) {
    json j = run_fields(s.run);
    j["model_path"] = s.model_path;
    j["n_generations"] = s.n_generations;
    arr.push_back(std::move(j));
  }
  return arr;
}

json run_to_json(const Store& store, int64_t run_id, bool with_values) {
  ReadSnapshot snapshot(store);
  const RunRecord run = require_run(store, run_id);
  json j = {{"run", run_fields(run)}};
  if (auto m = store.get_model(run.model_id))
    j["model"] = {{"id", m->id},           {"path", m->path},         {"config_hash", m->config_hash},
                  {"architecture", m->architecture}, {"n_layers", m->n_layers}, {"n_heads", m->n_heads},
                  {"n_kv_heads", m->n_kv_heads},     {"hidden_size", m->hidden_size}, {"vocab_size", m->vocab_size}};
  if (run.prompt_id)
    if (auto p = store.get_prompt(*run.prompt_id)) {
      json offs = json::array();
      for (const auto& [a, b] : p->offsets) offs.push_back({a, b});
      j["prompt"] = {{"id", p->id}, {"text", p->text}, {"token_ids", p->token_ids}, {"offsets", offs}};
    }
  if (run.spec_id)
    if (auto s = store.get_spec(*run.spec_id)) j["steering_spec"] = parse_json_bounded(*s, "run store: steering spec " + std::to_string(*run.spec_id));

  json gens = json::array();
  for (const auto& g : store.get_generations(run_id)) {
    json probs = json::array();
    for (float p : g.step_probs) probs.push_back(float_or_null(p));
    gens.push_back({{"variant", g.variant}, {"token_ids", g.token_ids}, {"text", g.text}, {"step_probs", probs}});
  }
  j["generations"] = gens;

  json stats = json::array();
  for (const auto& s : store.get_head_stats(run_id))
    stats.push_back({{"layer", s.layer}, {"head", s.head}, {"stat", s.stat}, {"value", number_or_null(s.value)}});
  j["head_stats"] = stats;

  json maps = json::array();
  for (const auto& a : store.list_attention_maps(run_id))
  {
    json e = {{"id", a.id}, {"layer", a.layer}, {"head", a.head}, {"phase", a.phase},
              {"shape", {a.rows, a.cols}}, {"dtype", dtype_name(a.dtype)}};
    if (with_values) e["values"] = matrix_json(store.load_attention_map(a.id));
    maps.push_back(std::move(e));
  }
  j["attention_maps"] = maps;

  json traces = json::array();
  for (const auto& t : store.list_traces(run_id))
  {
    json e = {{"id", t.id}, {"span", t.span}, {"variant", t.variant},
              {"layer", t.layer ? json(*t.layer) : json("all")}, {"shape", {t.rows, t.cols}},
              {"dtype", dtype_name(t.dtype)}};
    if (with_values) e["values"] = matrix_json(store.load_trace(t.id));  // rows: layers -1..L-1
    traces.push_back(std::move(e));
  }
  j["traces"] = traces;

  if (auto job = store.profiling_job_for_run(run_id)) {
    json scores = json::array();
    for (const auto& h : store.get_head_scores(job->id))
      scores.push_back({{"task", h.task}, {"layer", h.layer}, {"head", h.head}, {"metric", h.metric},
                        {"value", number_or_null(h.value)}});
    json profiles = json::array();
    for (const auto& p : store.list_exported_profiles(job->id))
      profiles.push_back({{"id", p.id},
                          {"strategy", p.strategy},
                          {"k", p.k},
                          {"heads", parse_json_bounded(p.json, "run store: head profile " + std::to_string(p.id))},
                          {"created_at", p.created_at}});
    j["profiling"] = {{"job_id", job->id},
                      {"tasks", parse_json_bounded(job->tasks_json, "run store: profiling job tasks")},
                      {"total_units", job->total_units},
                      {"recorded_units", store.count_units(job->id)},
                      {"status", job->status},
                      {"head_scores", scores},
                      {"exported_profiles", profiles}};
  }

  json sweeps = json::array();
  for (const auto& s : store.list_niah_sweeps(run_id)) {
    json cells = json::array();
    for (const auto& c : store.get_niah_cells(s.id))
      cells.push_back(niah_cell_json(c));
    const std::string where = "run store: sweep " + std::to_string(s.id) + " config";
    json sweep = {{"id", s.id}, {"method", s.method}, {"config", parse_json_bounded(s.config_json, where)}, {"cells", cells}};
    json retrieval = json::array();
    for (const auto& r : store.get_retrieval_scores(s.id))
      retrieval.push_back({{"layer", r.layer}, {"head", r.head}, {"score", r.score}, {"hits", r.hits},
                           {"copy_steps", r.copy_steps}});
    if (!retrieval.empty()) sweep["retrieval_scores"] = retrieval;
    sweeps.push_back(sweep);
  }
  if (!sweeps.empty()) j["niah_sweeps"] = sweeps;
  return j;
}

std::string default_csv_table(const Store& store, int64_t run_id) {
  const RunRecord run = require_run(store, run_id);
  if (store.profiling_job_for_run(run_id)) return "head_scores";
  if (!store.list_niah_sweeps(run_id).empty()) return "niah_cells";
  if (run.kind == "influence" && !store.list_traces(run_id).empty()) return "traces";
  if (!store.get_head_stats(run_id).empty()) return "head_stats";
  if (store.get_generations(run_id).empty() && !store.list_traces(run_id).empty()) return "traces";
  if (store.get_generations(run_id).empty() && !store.list_attention_maps(run_id).empty()) return "attention_maps";
  return "generations";
}

void export_run_safetensors(const Store& store, int64_t run_id, const std::string& out_path) {
  ReadSnapshot snapshot(store);
  const RunRecord run = require_run(store, run_id);
  SafetensorsWriter w;
  int64_t n = 0;
  for (const auto& a : store.list_attention_maps(run_id)) {
    const FloatMatrix m = store.load_attention_map(a.id);
    const std::string head = a.head < 0 ? "L" + std::to_string(a.layer) : "L" + std::to_string(a.layer) + "H" + std::to_string(a.head);
    w.add_f32("map." + std::to_string(a.id) + "." + head + "." + a.phase, {m.rows, m.cols}, m.values);
    ++n;
  }
  for (const auto& t : store.list_traces(run_id)) {
    const FloatMatrix m = store.load_trace(t.id);
    w.add_f32("trace." + std::to_string(t.id) + "." + t.variant, {m.rows, m.cols}, m.values);
    w.set_metadata("trace." + std::to_string(t.id) + ".span", t.span);
    ++n;
  }
  for (const auto& g : store.get_generations(run_id)) {
    std::vector<int64_t> ids(g.token_ids.begin(), g.token_ids.end());
    w.add_i64("generation." + g.variant + ".ids", {static_cast<int64_t>(ids.size())}, ids);
    w.add_f32("generation." + g.variant + ".step_probs", {static_cast<int64_t>(g.step_probs.size())}, g.step_probs);
    ++n;
  }
  if (n == 0) throw Error("run " + std::to_string(run_id) + ": no maps, traces or generations to write as tensors");
  w.set_metadata("run", run_fields(run).dump());
  w.write(out_path);
}

std::string run_to_csv(const Store& store, int64_t run_id, const std::string& table) {
  require_run(store, run_id);
  std::string out;
  if (table == "head_stats") {
    out = "layer,head,stat,value\n";
    for (const auto& s : store.get_head_stats(run_id))
      out += std::to_string(s.layer) + ',' + std::to_string(s.head) + ',' + csv_field(s.stat) + ',' +
             csv_number(s.value) + '\n';
  } else if (table == "generations") {
    out = "variant,step,token_id,token_prob\n";
    for (const auto& g : store.get_generations(run_id))
      for (size_t i = 0; i < g.token_ids.size(); ++i)
        out += g.variant + ',' + std::to_string(i) + ',' + std::to_string(g.token_ids[i]) + ',' +
               (i < g.step_probs.size() ? shortest_float(g.step_probs[i]) : std::string()) + '\n';
  } else if (table == "head_scores") {
    out = "task,layer,head,metric,value\n";
    if (auto job = store.profiling_job_for_run(run_id))
      for (const auto& h : store.get_head_scores(job->id))
        out += csv_field(h.task) + ',' + std::to_string(h.layer) + ',' + std::to_string(h.head) + ',' +
               csv_field(h.metric) + ',' + csv_number(h.value) + '\n';
  } else if (table == "niah_cells") {
    // influence_by_layer: the per-layer curve (layers -1..L-1) as space-separated numbers in one field.
    out = "sweep_id,method,strength,context_length,depth_percent,realised_depth,n_samples,mean_score,mean_influence,"
          "mean_rollout,answer,influence_by_layer\n";
    auto opt = [](const std::optional<double>& v) { return v ? csv_number(*v) : std::string(); };
    for (const auto& s : store.list_niah_sweeps(run_id))
      for (const auto& c : store.get_niah_cells(s.id)) {
        std::string curve;
        for (double v : c.influence_by_layer) curve += (curve.empty() ? "" : " ") + csv_number(v);
        out += std::to_string(s.id) + ',' + csv_field(s.method) + ',' + csv_number(c.strength) + ',' +
               std::to_string(c.context_length) + ',' + csv_number(c.depth_percent) + ',' + opt(c.realised_depth) +
               ',' + std::to_string(c.n_samples) + ',' + csv_number(c.mean_score) + ',' + opt(c.mean_influence) +
               ',' + opt(c.mean_rollout) + ',' + csv_field(c.answer) + ',' + curve + '\n';
      }
  } else if (table == "retrieval_scores") {
    out = "sweep_id,layer,head,score,hits,copy_steps\n";
    for (const auto& s : store.list_niah_sweeps(run_id))
      for (const auto& r : store.get_retrieval_scores(s.id))
        out += std::to_string(s.id) + ',' + std::to_string(r.layer) + ',' + std::to_string(r.head) + ',' +
               csv_number(r.score) + ',' + std::to_string(r.hits) + ',' + std::to_string(r.copy_steps) + '\n';
  } else if (table == "traces") {
    // Long format: one row per (trace, layer row, token position); layer_row 0 is the embeddings (layer -1).
    out = "trace_id,span,variant,layer,position,value\n";
    for (const auto& t : store.list_traces(run_id)) {
      const FloatMatrix m = store.load_trace(t.id);
      for (int64_t r = 0; r < m.rows; ++r)
        for (int64_t c = 0; c < m.cols; ++c)
          out += std::to_string(t.id) + ',' + csv_field(t.span) + ',' + csv_field(t.variant) + ',' +
                 std::to_string(t.layer ? *t.layer : r - 1) + ',' + std::to_string(c) + ',' +
                 shortest_float(m.values[static_cast<size_t>(r * m.cols + c)]) + '\n';
    }
  } else if (table == "attention_maps") {
    out = "map_id,layer,head,phase,query,key,value\n";
    for (const auto& a : store.list_attention_maps(run_id)) {
      const FloatMatrix m = store.load_attention_map(a.id);
      for (int64_t r = 0; r < m.rows; ++r)
        for (int64_t c = 0; c < m.cols; ++c)
          out += std::to_string(a.id) + ',' + std::to_string(a.layer) + ',' + std::to_string(a.head) + ',' +
                 csv_field(a.phase) + ',' + std::to_string(r) + ',' + std::to_string(c) + ',' +
                 shortest_float(m.values[static_cast<size_t>(r * m.cols + c)]) + '\n';
    }
  } else {
    throw Error("csv export: unknown table \"" + table +
                "\" (head_stats, generations, head_scores, niah_cells, retrieval_scores, traces, attention_maps)");
  }
  return out;
}

FloatMatrix head_grid(const Store& store, int64_t run_id, const PngChoice& choice, std::string* title) {
  const RunRecord run = require_run(store, run_id);
  const auto model = store.get_model(run.model_id);
  if (!model) throw Error("run " + std::to_string(run_id) + ": its model record is missing");
  FloatMatrix g;
  g.rows = model->n_layers;
  g.cols = model->n_heads;
  g.values.assign(size_t(g.rows * g.cols), std::numeric_limits<float>::quiet_NaN());
  auto put = [&](int64_t l, int64_t h, double v) {
    if (l < 0 || l >= g.rows || h < 0 || h >= g.cols)
      throw Error("run " + std::to_string(run_id) + ": head L" + std::to_string(l) + "H" + std::to_string(h) +
                  " outside the model's " + std::to_string(g.rows) + " x " + std::to_string(g.cols) + " heads");
    g.values[size_t(l * g.cols + h)] = static_cast<float>(v);
  };
  bool any = false;
  const std::string what = "run " + std::to_string(run_id) + ": ";
  if (!choice.head_stat.empty()) {
    std::set<std::string> names;
    for (const auto& s : store.get_head_stats(run_id)) {
      names.insert(s.stat);
      if (s.stat == choice.head_stat) put(s.layer, s.head, s.value), any = true;
    }
    if (!any) {
      std::string known;
      for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
      throw Error(what + "no head statistic \"" + choice.head_stat + "\" (it has: " + (known.empty() ? "none" : known) + ")");
    }
    *title = choice.head_stat + " per head";
  } else if (!choice.head_score.empty()) {
    const auto job = store.profiling_job_for_run(run_id);
    if (job)
      for (const auto& h : store.get_head_scores(job->id))
        if (h.metric == choice.head_score) put(h.layer, h.head, h.value), any = true;
    if (!any) throw Error(what + "no head scores with metric \"" + choice.head_score + "\"");
    *title = choice.head_score + " per head";
  } else {
    int64_t steps = 0;
    for (const auto& s : store.list_niah_sweeps(run_id))
      for (const auto& r : store.get_retrieval_scores(s.id, choice.strength)) {
        put(r.layer, r.head, r.score);
        steps = r.copy_steps;
        any = true;
      }
    if (!any) throw Error(what + "no retrieval scores (run the NIAH sweep with --retrieval-scores)");
    *title = "retrieval score (" + std::to_string(steps) + " copy steps)";
  }
  return g;
}

namespace {

// "model · run N · PASTA alpha=0.01": what a figure shows, for its title.
std::string run_caption(const Store& store, const RunRecord& run) {
  std::string model = "model " + std::to_string(run.model_id);
  if (auto m = store.get_model(run.model_id)) {
    std::string p = m->path;
    while (!p.empty() && p.back() == '/') p.pop_back();
    const size_t slash = p.find_last_of('/');
    model = slash == std::string::npos ? p : p.substr(slash + 1);
    if ((model == "hf" || model.size() > 24) && slash != std::string::npos && slash > 0) {  // ".../stories260K/hf"
      const size_t prev = p.find_last_of('/', slash - 1);
      model = p.substr(prev == std::string::npos ? 0 : prev + 1, slash - (prev == std::string::npos ? 0 : prev + 1));
    }
  }
  std::string steering;
  if (run.spec_id)
    if (auto spec = store.get_spec(*run.spec_id)) {
      const json j = json::parse(*spec, nullptr, false);
      const std::string method = j.is_object() ? j.value("method", "none") : "none";
      auto num = [&](const char* key) {
        return j.contains(key) && j[key].is_number() ? std::string(" ") + key + "=" + csv_number(j[key].get<double>())
                                                      : std::string();
      };
      if (method == "pasta") steering = " - PASTA" + num("alpha");
      else if (method == "guide") steering = " - GUIDE" + num("delta");
      else if (method == "instaboost") steering = " - INSTABOOST" + num("multiplier");
    }
  return model + " - run " + std::to_string(run.id) + steering;
}

// The prompt's tokens as column labels, from the stored text and code-point offsets (ASCII: the PNG font has no
// other glyphs); tokens past the prompt (a continuation) are numbered.
std::vector<std::string> token_ticks(const Store& store, const RunRecord& run, int64_t n) {
  std::vector<std::string> out;
  std::optional<PromptRecord> p;
  if (run.prompt_id) p = store.get_prompt(*run.prompt_id);
  std::vector<size_t> cp_start;  // byte offset of each code point
  if (p)
    for (size_t i = 0; i < p->text.size(); ++i)
      if ((static_cast<unsigned char>(p->text[i]) & 0xC0) != 0x80) cp_start.push_back(i);
  for (int64_t i = 0; i < n; ++i) {
    std::string t;
    if (p && i < static_cast<int64_t>(p->offsets.size())) {
      const auto [a, b] = p->offsets[static_cast<size_t>(i)];
      if (a >= 0 && b > a && static_cast<size_t>(b) <= cp_start.size()) {
        const size_t from = cp_start[static_cast<size_t>(a)];
        const size_t to = static_cast<size_t>(b) < cp_start.size() ? cp_start[static_cast<size_t>(b)] : p->text.size();
        for (char c : p->text.substr(from, to - from))
          t += (c == ' ' ? '_' : (static_cast<unsigned char>(c) < 0x80 && c >= 0x20 ? c : '?'));
      } else if (i < static_cast<int64_t>(p->token_ids.size())) {
        t = "<" + std::to_string(p->token_ids[static_cast<size_t>(i)]) + ">";  // a special token (BOS) has no text
      }
    } else {
      t = "+" + std::to_string(i - (p ? static_cast<int64_t>(p->offsets.size()) : 0));
    }
    if (t.size() > 8) t = t.substr(0, 8);
    out.push_back(t);
  }
  return out;
}

}  // namespace

void export_run_png(const Store& store, int64_t run_id, const PngChoice& choice, const std::string& out_path) {
  const RunRecord run = require_run(store, run_id);
  HeatmapOptions opt;
  opt.log_scale = choice.log_scale;
  if (int(!choice.head_stat.empty()) + int(!choice.head_score.empty()) + int(choice.retrieval) > 1)
    throw Error("png export: choose one of a head statistic, a head score metric or the retrieval scores");
  if (!choice.head_stat.empty() || !choice.head_score.empty() || choice.retrieval) {
    const FloatMatrix g = head_grid(store, run_id, choice, &opt.title);
    opt.x_label = "head";
    opt.y_label = "layer";
    for (int64_t h = 0; h < g.cols; ++h) opt.x_ticks.push_back(std::to_string(h));
    for (int64_t l = 0; l < g.rows; ++l) opt.y_ticks.push_back(std::to_string(l));
    write_png(render_heatmap(g, opt), out_path);
    return;
  }
  const auto sweeps = store.list_niah_sweeps(run_id);
  if (!sweeps.empty() && !choice.map_id) {
    std::vector<NiahCell> cells;
    for (const auto& s : sweeps) {
      auto c = store.get_niah_cells(s.id);
      cells.insert(cells.end(), c.begin(), c.end());
    }
    if (cells.empty()) throw Error("run " + std::to_string(run_id) + ": the NIAH sweep has no recorded cells yet");
    std::set<double> strengths;
    for (const auto& c : cells) strengths.insert(c.strength);
    const double strength = choice.strength.value_or(*strengths.begin());
    if (!strengths.count(strength))
      throw Error("run " + std::to_string(run_id) + ": no NIAH cells with strength " + csv_number(strength));
    NiahGrid g = niah_grid(cells, strength, choice.influence);
    opt.title = run_caption(store, run) + " - NIAH " + (choice.influence ? "INFLUENCE" : "SCORE") + " (STRENGTH " +
                csv_number(strength) + ")";
    opt.x_label = "context length (tokens)";
    opt.y_label = "depth %";
    for (auto l : g.lengths) opt.x_ticks.push_back(std::to_string(l));
    for (double d : g.depths) opt.y_ticks.push_back(csv_number(d));
    write_png(render_heatmap(g.values, opt), out_path);
    return;
  }
  const auto maps = store.list_attention_maps(run_id);
  int64_t map_id = 0;
  if (choice.map_id) {
    bool found = false;
    for (const auto& a : maps) found = found || a.id == *choice.map_id;
    if (!found)
      throw Error("run " + std::to_string(run_id) + ": has no attention map " + std::to_string(*choice.map_id));
    map_id = *choice.map_id;
  } else {
    if (maps.empty())
      throw Error("run " + std::to_string(run_id) + ": nothing to draw (no attention maps, no NIAH cells)");
    map_id = maps.front().id;
  }
  const FloatMatrix m = store.load_attention_map(map_id);
  for (const auto& a : maps)
    if (a.id == map_id)
      opt.title = run_caption(store, run) + " - " + (a.head < 0 ? "L" + std::to_string(a.layer) + " MEAN"
                                                                 : "L" + std::to_string(a.layer) + "H" + std::to_string(a.head)) +
                  " " + a.phase;
  opt.x_label = "key token";
  opt.y_label = "query";
  if (m.rows <= 64) {  // token labels while they fit; beyond, the positions are the axes
    opt.x_ticks = token_ticks(store, run, m.cols);
    opt.y_ticks = token_ticks(store, run, m.rows);
  }
  write_png(render_heatmap(m, opt), out_path);
}

void write_text_file(const std::string& path, const std::string& text) {
  write_file_atomic(path, text);
}

}  // namespace hl::store
