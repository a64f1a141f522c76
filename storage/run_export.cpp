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

json run_to_json(const Store& store, int64_t run_id) {
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
    maps.push_back({{"id", a.id}, {"layer", a.layer}, {"head", a.head}, {"phase", a.phase},
                    {"shape", {a.rows, a.cols}}, {"dtype", dtype_name(a.dtype)}});
  j["attention_maps"] = maps;

  json traces = json::array();
  for (const auto& t : store.list_traces(run_id))
    traces.push_back({{"id", t.id}, {"span", t.span}, {"variant", t.variant},
                      {"layer", t.layer ? json(*t.layer) : json("all")}, {"shape", {t.rows, t.cols}},
                      {"dtype", dtype_name(t.dtype)}});
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
      cells.push_back({{"strength", c.strength}, {"context_length", c.context_length},
                       {"depth_percent", c.depth_percent}, {"n_samples", c.n_samples},
                       {"mean_score", number_or_null(c.mean_score)},
                       {"mean_influence", c.mean_influence ? number_or_null(*c.mean_influence) : json(nullptr)}});
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
  if (!store.get_head_stats(run_id).empty()) return "head_stats";
  return "generations";
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
    out = "sweep_id,method,strength,context_length,depth_percent,n_samples,mean_score,mean_influence\n";
    for (const auto& s : store.list_niah_sweeps(run_id))
      for (const auto& c : store.get_niah_cells(s.id))
        out += std::to_string(s.id) + ',' + csv_field(s.method) + ',' + csv_number(c.strength) + ',' +
               std::to_string(c.context_length) + ',' + csv_number(c.depth_percent) + ',' +
               std::to_string(c.n_samples) + ',' + csv_number(c.mean_score) + ',' +
               (c.mean_influence ? csv_number(*c.mean_influence) : std::string()) + '\n';
  } else if (table == "retrieval_scores") {
    out = "sweep_id,layer,head,score,hits,copy_steps\n";
    for (const auto& s : store.list_niah_sweeps(run_id))
      for (const auto& r : store.get_retrieval_scores(s.id))
        out += std::to_string(s.id) + ',' + std::to_string(r.layer) + ',' + std::to_string(r.head) + ',' +
               csv_number(r.score) + ',' + std::to_string(r.hits) + ',' + std::to_string(r.copy_steps) + '\n';
  } else {
    throw Error("csv export: unknown table \"" + table +
                "\" (head_stats, generations, head_scores, niah_cells, retrieval_scores)");
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

void export_run_png(const Store& store, int64_t run_id, const PngChoice& choice, const std::string& out_path) {
  require_run(store, run_id);
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
  write_png(render_heatmap(store.load_attention_map(map_id), opt), out_path);
}

void write_text_file(const std::string& path, const std::string& text) {
  write_file_atomic(path, text);
}

}  // namespace hl::store
