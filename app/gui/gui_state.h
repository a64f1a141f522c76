// What the window's panels share: the workbench, the snapshot taken at the start of the frame, the document the
// user is editing, and each panel's view state. Every user action (a click, a slider, a script line) goes through
// one of the GuiState methods below, so scripts and headless tests drive exactly what the mouse drives.
//
// Torch-free and GL-free: the heatmap reaches GL only through the HeatmapRenderer interface.
#pragma once
#include <cstdint>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "app/gui/frame_stats.h"
#include "app/gui/heatmap_renderer.h"
#include "app/gui/token_diff.h"
#include "imgui.h"
#include "workbench/workbench.h"

namespace hl::gui {

// Which number of the per-head statistics colours the heads grid and which variant it is taken from.
enum class Variant { Baseline = 0, Steered = 1, Difference = 2 };
// GuiState::head_metric: a column of the head statistics table, or one of these sources outside it.
constexpr int kHeadMetricScan = -1;       // the head scan's KL (Snapshot::scan)
constexpr int kHeadMetricRetrieval = -2;  // retrieval scores of the model's latest NIAH sweep (the store)
// What a click (or drag) on the heads grid edits: the steered set (spec.heads) or the ablated set (spec.ablate).
enum class HeadClick { Steer = 0, Ablate = 1 };
const char* to_string(HeadClick c);
const char* to_string(Variant v);

// The heatmap's view: the visible region in map cells (x = key column, y = query row), zoom/pan in the shader.
struct HeatmapViewState {
  Variant variant = Variant::Steered;
  Colormap colormap = Colormap::Viridis;
  bool log_scale = false;
  bool mask_sink = true;      // hide key column 0 (the BOS attention sink) from the colour range
  double x0 = 0, y0 = 0;      // top-left visible cell (fractional)
  double span = 0;            // visible cells across (0: fit the whole map)
};

struct InfluenceViewState {
  bool log_scale = false;
  bool show_rollout = true;
  int layer = -1;  // -1: the last layer
};

class GuiState {
 public:
  GuiState(wb::Workbench& wb, std::unique_ptr<HeatmapRenderer> renderer);

  // Start of every frame: takes a new snapshot when the workbench's version changed (copies shared pointers only).
  void begin_frame();

  wb::Workbench& workbench() { return wb_; }
  const wb::Snapshot& snap() const { return snap_; }
  const wb::Document& doc() const { return doc_; }
  HeatmapRenderer& renderer() { return *renderer_; }
  const HeatmapRenderer& renderer() const { return *renderer_; }
  int64_t n_layers() const { return snap_.model ? snap_.model->n_layers : 0; }
  int64_t n_heads() const { return snap_.model ? snap_.model->n_heads : 0; }

  // --- Actions (each one hands the changed document to the workbench at once). ---------------------------------
  void load_model(const std::string& path);
  void set_prompt(const std::string& text);
  void emphasize(const std::string& substring);       // spec.emphasis = {substring}; token spans cleared
  void set_token_span(int64_t begin, int64_t end);    // spec.spans = {[begin, end)}; emphasis cleared
  void clear_marks();
  // The Prompt panel's buttons: the text box's selection becomes the emphasis, or is wrapped in a GUIDE tag of
  // guide_level (0: <!-> x0.5, 1: <!!-> x1, 2: <!!!-> x2). False when nothing is selected.
  bool emphasize_selection();
  bool mark_selection_as_instruction();
  void set_method(SteeringMethod m);
  void set_alpha(double alpha);
  void set_delta(double delta);
  void set_multiplier(double m);
  void set_scale_position(ScalePosition p);
  void set_apply_at(ApplyAt a);
  void set_layers(const LayerSelection& layers);
  void set_heads(const HeadSet& heads);
  void toggle_head(int64_t layer, int64_t head);
  // The Heads panel's Load / Save of heads_file (PASTA's JSON); the outcome, or the error naming the file, goes to
  // heads_message. A set that does not fit the model loads anyway and is named as a "heads" issue.
  bool load_heads_file();
  bool save_heads_file();
  void set_head(int64_t layer, int64_t head, bool on);
  // Head ablation (spec.ablate / spec.ablation): works with any method, "none" included.
  void set_ablate(const HeadSet& heads);
  void toggle_ablated(int64_t layer, int64_t head);
  void set_ablated(int64_t layer, int64_t head, bool on);
  void set_ablation(AblationMode mode);  // Zero or Mean
  // A grid click on (layer, head): toggles it in the set head_click names.
  void click_head(int64_t layer, int64_t head);
  // Heads-grid colour by name: a statistic ("span_mass_last", "attn_distance", ...), "scan" or "retrieval". False
  // (nothing changed) for an unknown name.
  bool set_head_colour(const std::string& name);
  // The retrieval scores shown as a colour: re-read from the store (off the frame loop) when the model changes or
  // on request; poll_retrieval() takes a finished read. retrieval_pending(): a read is in flight or asked for.
  void refresh_retrieval() { retrieval_refresh = true; }
  void poll_retrieval();
  bool retrieval_pending() const;
  void select_head(int64_t layer, int64_t head);      // the heatmap's focus; head -1 = the layer's mean
  void set_max_new_tokens(int64_t n);
  void show_scan_scores();  // the heads grid switches to the head scan's scores
  void set_document(const wb::Document& d);           // whole-document edits (tests, reopen)
  // After the workbench changed the document itself (reopen_run), take its copy.
  void sync_from_workbench();
  // The Runs panel's buttons. Reopening loads the run's document into the panels; delete and export run as jobs
  // whose outcome the panel reports (runs_message) once they end.
  bool reopen_run(int64_t run_id);
  void delete_run(int64_t run_id);
  void export_run(int64_t run_id, const std::string& format, const std::string& path);

  // Panels ask for focus by name ("model", "prompt", ...); the frame loop brings that window to the front.
  void request_panel(const std::string& name) { panel_request_ = name; }
  std::string take_panel_request();

  // --- View state, read and written by the panels. ---------------------------------------------------------------
  // Model panel
  std::string model_path_input, device = "cpu", dtype = "auto";
  std::vector<std::string> recent_models;
  std::string recent_file;  // empty: not kept
  std::string remembered_model;  // the loaded model already put on the recent list
  // Prompt panel
  std::string prompt_edit;  // the text box; pushed to the document on change
  int selection_begin = 0, selection_end = 0;  // byte offsets of the text box's selection
  int guide_level = 1;  // 0: <!-> (0.5), 1: <!!-> (1), 2: <!!!-> (2)
  int64_t chip_drag_begin = -1, chip_drag_end = -1;
  std::vector<ImVec2> prompt_chip_centres;  // where the prompt's token chips were drawn last frame
  // Heads panel
  int head_metric = 1;  // span_mass_last: where the last position looks, the number steering moves most
  HeadClick head_click = HeadClick::Steer;
  wb::RetrievalScores retrieval;  // the last read (retrieval.missing says why there are none)
  std::future<wb::RetrievalScores> retrieval_future;
  std::string retrieval_model;  // the model (record path + config hash) the last read was for
  bool retrieval_refresh = true;
  Variant head_variant = Variant::Steered;
  std::string heads_file;
  std::string head_config_dir;                 // browsed for PASTA head configs (the published ones)
  std::vector<std::string> head_config_files;  // relative paths, read once when the list first opens
  std::string heads_message;
  int64_t grid_drag_l0 = -1, grid_drag_h0 = -1, grid_drag_l1 = -1, grid_drag_h1 = -1;
  bool grid_drag_on = true;
  float grid_x = 0, grid_y = 0, grid_cell = 0;  // where the grid was drawn last frame (screen pixels)
  // Steering panel
  std::string layers_edit, layers_error;
  struct TokenDiffCache {
    const void* baseline = nullptr;
    const void* steered = nullptr;
    size_t baseline_n = 0, steered_n = 0;
    TokenDiff diff;
  } token_diff_cache;
  bool layers_edit_active = false;
  // Heatmap and Influence panels
  HeatmapViewState heatmap;
  InfluenceViewState influence;
  float heatmap_x = 0, heatmap_y = 0, heatmap_side = 0;  // where the map was drawn last frame (screen pixels)
  std::shared_ptr<const wb::AttentionMap> bench_map;
  struct HeatmapRange {
    const void* a = nullptr;
    const void* b = nullptr;
    bool mask_sink = false;
    float vmax = 1;
  } heatmap_range;  // the colour range of the maps on screen, computed once per new map  // --bench-heatmap: a synthetic map shown instead
  // Runs panel
  std::vector<wb::RunRow> runs;
  std::future<std::vector<wb::RunRow>> runs_future;  // a list_runs in flight (joined before the workbench goes)
  int64_t runs_seen_recorded = -1;
  bool runs_refresh = true;
  int export_format = 0;  // csv, json, png
  std::string export_dir;
  uint64_t runs_pending_job = 0;  // a delete or export the panel waits to report
  std::string runs_message, runs_error;
  // Status bar
  FrameStats frames;            // every frame the loop ran
  FrameStats presented_frames;  // the frames that changed the picture (rendered and presented)
  // A steering change's latency: from the document change to the first frame showing a steered token of that
  // document, and the part of it the engine spent (its job's first token); the difference is the UI's share.
  std::vector<double> change_to_token_ms, engine_first_token_ms;
  double status_frame_ms = 0, status_frame_ms_at = -1;  // the status bar's figure and when it was taken

 private:
  void commit();
  void take_snapshot();
  // Toggles (on < 0) or sets one head of `set` (the document's steered or ablated set) and commits.
  void edit_head_set(HeadSet& set, int64_t layer, int64_t head, int on);

  wb::Workbench& wb_;
  std::unique_ptr<HeatmapRenderer> renderer_;
  wb::Snapshot snap_;
  uint64_t snap_version_ = ~uint64_t{0};
  wb::Document doc_;
  std::string panel_request_;
  uint64_t pending_generation_ = 0;  // a steered document change whose first token is not on screen yet
  std::chrono::steady_clock::time_point pending_since_;
};

// Parses "L3H5" (head) or "L3" (layer mean: head -1). Returns false on anything else.
bool parse_head_name(const std::string& text, int64_t* layer, int64_t* head);
// The first message of prompt->issues for `field`, or empty.
std::string field_issue(const wb::Snapshot& s, const std::string& field);

}  // namespace hl::gui
