// The numbers that can colour the heads grid: the head statistics of the current prompt (computed as attention runs
// by the capture), the head scan's KL and the store's retrieval scores, each with a label and a unit for the combo,
// the legend and the tooltip. Torch-free and GL-free.
#pragma once
#include <string>
#include <vector>

#include "workbench/workbench.h"

namespace hl::gui {

struct HeadMetricInfo {
  std::string label;  // for the colour menu, e.g. "windowed attention distance"
  std::string unit;   // e.g. "tokens, W = 16", "nats", "fraction" (of the row's attention)
  std::string help;   // one or two lines: what the number is
};

// By name: a statistic ("span_mass_after", "attn_distance", ...), "scan" or "retrieval". An unknown statistic gets
// its own name as label and no unit.
HeadMetricInfo head_metric_info(const std::string& name);

// The statistic names the snapshot's head tables carry (steered, else baseline), or the capture's list before any
// table arrived.
std::vector<std::string> head_stat_names(const wb::Snapshot& s);

// "label (unit)".
std::string head_metric_title(const std::string& name);

}  // namespace hl::gui
