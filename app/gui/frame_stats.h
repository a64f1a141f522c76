// Frame times of the window, split into frames while a job ran (busy) and frames with the worker idle, for the
// status bar and --state-out.
#pragma once
#include <cstdint>
#include <vector>

namespace hl::gui {

struct FrameTimeSummary {
  double p50 = 0, p95 = 0, max = 0;
  int64_t count = 0;
};

class FrameStats {
 public:
  void add(double ms, bool busy);
  FrameTimeSummary all() const { return summarize(all_); }
  FrameTimeSummary busy() const { return summarize(busy_); }
  FrameTimeSummary idle() const { return summarize(idle_); }
  int64_t frames() const { return static_cast<int64_t>(all_.size()); }
  double last_ms() const { return all_.empty() ? 0 : all_.back(); }
  // Median of the last 30 frames, for the status bar.
  double recent_ms() const;

  static FrameTimeSummary summarize(std::vector<double> ms);

 private:
  std::vector<double> all_, busy_, idle_;
};

}  // namespace hl::gui
