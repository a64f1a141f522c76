#include "app/gui/frame_stats.h"

#include <algorithm>
#include <cmath>

namespace hl::gui {

void FrameStats::add(double ms, bool busy) {
  all_.push_back(ms);
  (busy ? busy_ : idle_).push_back(ms);
}

double FrameStats::recent_ms() const {
  // The median: one slow frame (a new map, a first use of a window) should not make the figure jump.
  const size_t n = std::min<size_t>(all_.size(), 30);
  if (n == 0) return 0;
  return summarize(std::vector<double>(all_.end() - static_cast<std::ptrdiff_t>(n), all_.end())).p50;
}

// Nearest-rank percentiles: p95 of 20 frames is the 19th smallest, an actual frame's time.
FrameTimeSummary FrameStats::summarize(std::vector<double> ms) {
  FrameTimeSummary s;
  s.count = static_cast<int64_t>(ms.size());
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  auto rank = [&](double p) {
    const size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(ms.size())));
    return ms[std::min(ms.size() - 1, k == 0 ? 0 : k - 1)];
  };
  s.p50 = rank(0.50);
  s.p95 = rank(0.95);
  s.max = ms.back();
  return s;
}

}  // namespace hl::gui
