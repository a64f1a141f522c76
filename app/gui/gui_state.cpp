#include "app/gui/gui_state.h"

#include <algorithm>
#include <cctype>

#include "app/gui/head_metrics.h"

namespace hl::gui {

const char* to_string(Variant v) {
  switch (v) {
    case Variant::Baseline: return "baseline";
    case Variant::Difference: return "steered - baseline";
    case Variant::Steered: break;
  }
  return "steered";
}

const char* to_string(HeadClick c) { return c == HeadClick::Ablate ? "ablate" : "steer"; }

GuiState::GuiState(wb::Workbench& wb, std::unique_ptr<HeatmapRenderer> renderer)
    : wb_(wb), renderer_(std::move(renderer)), doc_(wb.document()) {
  prompt_edit = doc_.prompt;
  if (!renderer_) renderer_ = make_null_heatmap_renderer();
}

void GuiState::begin_frame() {
  take_snapshot();
  poll_retrieval();
}

void GuiState::take_snapshot() {
  const uint64_t v = wb_.version();
  if (v == snap_version_) return;
  snap_ = wb_.snapshot();
  snap_version_ = snap_.version;
  const auto& st = snap_.steered;
  if (pending_generation_ && st && st->generation == pending_generation_ && !st->continuation.ids.empty()) {
    change_to_token_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - pending_since_).count());
    engine_first_token_ms.push_back(st->continuation.first_token_seconds * 1e3);
    pending_generation_ = 0;
  }
}

void GuiState::commit() {
  const uint64_t before = snap_.steered ? snap_.steered->generation : 0;
  const uint64_t gen = wb_.set_document(doc_);
  // Only a change that runs a steered continuation of its own is timed (a document without steering shows the
  // baseline's tokens, which were there before).
  if (gen != before && (doc_.spec.method != SteeringMethod::None || !doc_.spec.ablate.empty())) {
    pending_generation_ = gen;
    pending_since_ = std::chrono::steady_clock::now();
  }
}

void GuiState::load_model(const std::string& path) {
  model_path_input = path;
  wb_.load_model(path, device, dtype);
}

void GuiState::set_prompt(const std::string& text) {
  doc_.prompt = text;
  prompt_edit = text;
  // Token spans index the old tokenisation; emphasis substrings are re-located by the workbench.
  doc_.spec.spans.clear();
  commit();
}

void GuiState::emphasize(const std::string& substring) {
  doc_.spec.emphasis = {substring};
  doc_.spec.spans.clear();
  doc_.spec.occurrence = 0;
  commit();
}

void GuiState::set_token_span(int64_t begin, int64_t end) {
  doc_.spec.spans = {SteeringSpan{begin, end, 1.0}};
  doc_.spec.emphasis.clear();
  commit();
}

void GuiState::clear_marks() {
  doc_.spec.spans.clear();
  doc_.spec.emphasis.clear();
  commit();
}

namespace {
const char* const kOpenTags[] = {"<!->", "<!!->", "<!!!->"};
const char* const kCloseTags[] = {"<-!>", "<-!!>", "<-!!!>"};
}  // namespace

bool GuiState::emphasize_selection() {
  const int n = static_cast<int>(prompt_edit.size());
  const int b = std::clamp(selection_begin, 0, n), e = std::clamp(selection_end, 0, n);
  if (e <= b) return false;
  emphasize(prompt_edit.substr(static_cast<size_t>(b), static_cast<size_t>(e - b)));
  return true;
}

bool GuiState::mark_selection_as_instruction() {
  const int n = static_cast<int>(prompt_edit.size());
  const int b = std::clamp(selection_begin, 0, n), e = std::clamp(selection_end, 0, n);
  if (e <= b) return false;
  const int lv = std::clamp(guide_level, 0, 2);
  std::string t = prompt_edit;
  t.insert(static_cast<size_t>(e), kCloseTags[lv]);
  t.insert(static_cast<size_t>(b), kOpenTags[lv]);
  selection_begin = selection_end = 0;
  set_prompt(t);
  return true;
}

bool GuiState::reopen_run(int64_t run_id) {
  std::string err;
  bool ok = false;
  try {
    ok = wb_.reopen_run(run_id, &err);
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (ok) {
    sync_from_workbench();
    runs_message = "reopened run " + std::to_string(run_id);
  } else {
    runs_message = "run " + std::to_string(run_id) + ": " + err;
  }
  return ok;
}

void GuiState::delete_run(int64_t run_id) {
  runs_pending_job = wb_.delete_run(run_id);
  runs_message = "deleting run " + std::to_string(run_id);
}

void GuiState::export_run(int64_t run_id, const std::string& format, const std::string& path) {
  runs_pending_job = wb_.export_run(run_id, format, path);
  runs_message = "exporting run " + std::to_string(run_id) + " to " + path;
}

void GuiState::set_method(SteeringMethod m) {
  doc_.spec.method = m;
  commit();
}
void GuiState::set_alpha(double alpha) {
  doc_.spec.alpha = alpha;
  commit();
}
void GuiState::set_delta(double delta) {
  doc_.spec.delta = delta;
  commit();
}
void GuiState::set_multiplier(double m) {
  doc_.spec.multiplier = m;
  commit();
}
void GuiState::set_scale_position(ScalePosition p) {
  doc_.spec.scale_position = p;
  commit();
}
void GuiState::set_apply_at(ApplyAt a) {
  doc_.spec.apply_at = a;
  commit();
}
void GuiState::set_layers(const LayerSelection& layers) {
  doc_.spec.layers = layers;
  commit();
}
void GuiState::set_heads(const HeadSet& heads) {
  doc_.spec.heads = heads;
  commit();
}
// wb::toggle_head / set_head expand the set against the model and throw for entries outside it (a config for a
// bigger model): the click is refused with the reason instead.
void GuiState::edit_head_set(HeadSet& set, int64_t layer, int64_t head, int on) {
  try {
    if (on < 0) wb::toggle_head(set, layer, head, n_layers(), n_heads());
    else wb::set_head(set, layer, head, on != 0, n_layers(), n_heads());
  } catch (const std::exception& e) {
    heads_message = e.what();
    return;
  }
  commit();
}
void GuiState::toggle_head(int64_t layer, int64_t head) { edit_head_set(doc_.spec.heads, layer, head, -1); }
bool GuiState::load_heads_file() {
  try {
    set_heads(wb::Workbench::load_heads(heads_file));
    const std::string names = head_set_to_names(doc_.spec.heads);
    heads_message = "loaded " + (names.size() > 120 ? names.substr(0, 117) + "..." : names);
    return true;
  } catch (const std::exception& e) {
    heads_message = e.what();
    return false;
  }
}

bool GuiState::save_heads_file() {
  try {
    wb_.save_heads(doc_.spec.heads, heads_file);
    heads_message = "saved to " + heads_file;
    return true;
  } catch (const std::exception& e) {
    heads_message = e.what();
    return false;
  }
}

void GuiState::set_head(int64_t layer, int64_t head, bool on) { edit_head_set(doc_.spec.heads, layer, head, on); }
void GuiState::set_ablate(const HeadSet& heads) {
  doc_.spec.ablate = heads;
  commit();
}
void GuiState::toggle_ablated(int64_t layer, int64_t head) { edit_head_set(doc_.spec.ablate, layer, head, -1); }
void GuiState::set_ablated(int64_t layer, int64_t head, bool on) { edit_head_set(doc_.spec.ablate, layer, head, on); }
void GuiState::set_ablation(AblationMode mode) {
  doc_.spec.ablation = mode == AblationMode::Mean ? AblationMode::Mean : AblationMode::Zero;
  commit();
}
void GuiState::click_head(int64_t layer, int64_t head) {
  if (head_click == HeadClick::Ablate) toggle_ablated(layer, head);
  else toggle_head(layer, head);
}

bool GuiState::set_head_colour(const std::string& name) {
  if (name == "scan") {
    head_metric = kHeadMetricScan;
    return true;
  }
  if (name == "retrieval") {
    head_metric = kHeadMetricRetrieval;
    refresh_retrieval();
    return true;
  }
  const auto names = head_stat_names(snap_);
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) return false;
  head_metric = static_cast<int>(it - names.begin());
  return true;
}

void GuiState::poll_retrieval() {
  if (retrieval_future.valid() && retrieval_future.wait_for(std::chrono::seconds(0)) == std::future_status::ready)
    retrieval = retrieval_future.get();  // retrieval_scores() never throws
  const std::string model = snap_.model ? snap_.model->record_path + "\n" + snap_.model->config_hash : std::string();
  if (model != retrieval_model) retrieval_refresh = true;
  if (retrieval_refresh && !retrieval_future.valid()) {
    wb::Workbench* w = &wb_;
    retrieval_future = std::async(std::launch::async, [w] { return w->retrieval_scores(); });
    retrieval_model = model;
    retrieval_refresh = false;
  }
}

bool GuiState::retrieval_pending() const { return retrieval_refresh || retrieval_future.valid(); }

void GuiState::select_head(int64_t layer, int64_t head) {
  doc_.focus_layer = layer;
  doc_.focus_head = head;
  commit();
}
void GuiState::set_max_new_tokens(int64_t n) {
  doc_.sampling.max_new_tokens = n;
  commit();
}
void GuiState::show_scan_scores() { head_metric = kHeadMetricScan; }
void GuiState::set_document(const wb::Document& d) {
  doc_ = d;
  prompt_edit = d.prompt;
  commit();
}
void GuiState::sync_from_workbench() {
  doc_ = wb_.document();
  prompt_edit = doc_.prompt;
}

std::string GuiState::take_panel_request() {
  std::string r;
  r.swap(panel_request_);
  return r;
}

bool parse_head_name(const std::string& text, int64_t* layer, int64_t* head) {
  size_t i = 0;
  auto number = [&](int64_t* out) {
    const size_t start = i;
    int64_t v = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && i - start < 9) v = v * 10 + (text[i++] - '0');
    *out = v;
    return i > start;
  };
  if (i >= text.size() || (text[i] != 'L' && text[i] != 'l')) return false;
  ++i;
  if (!number(layer)) return false;
  if (i == text.size()) {
    *head = -1;
    return true;
  }
  if (text[i] != 'H' && text[i] != 'h') return false;
  ++i;
  if (!number(head)) return false;
  return i == text.size();
}

std::string field_issue(const wb::Snapshot& s, const std::string& field) {
  if (!s.prompt) return {};
  for (const auto& issue : s.prompt->issues)
    if (issue.field == field) return issue.message;
  return {};
}

}  // namespace hl::gui
