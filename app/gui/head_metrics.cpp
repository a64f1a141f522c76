#include "app/gui/head_metrics.h"

namespace hl::gui {

HeadMetricInfo head_metric_info(const std::string& name) {
  if (name == "span_mass_after")
    return {"span mass, rows after span", "fraction",
            "Attention on the emphasised span, mean over the query rows after it."};
  if (name == "span_mass_last")
    return {"span mass, last position", "fraction",
            "Attention the last prompt position puts on the emphasised span."};
  if (name == "entropy") return {"entropy", "nats", "Entropy of the attention distribution, mean over query rows."};
  if (name == "max") return {"max attention", "probability", "Largest attention weight of a row, mean over rows."};
  if (name == "sink")
    return {"sink (first token)", "fraction", "Attention on the first token, mean over query rows."};
  if (name == "attn_distance")
    return {"windowed attention distance", "tokens, W = 16",
            "How far back the head looks: sum_j p_ij * min(i - j, 16), mean over rows.\n"
            "Small: locally focused head; large: globally focused."};
  if (name == "future_influence")
    return {"future attention influence", "fraction",
            "Mean attention a token receives from later tokens, mean over keys:\n"
            "how much later positions anchor on earlier ones."};
  if (name == "scan") return {"scan: KL, steered alone", "nats", "KL(baseline || steered) of the next token, each head steered alone (PASTA)."};
  if (name == "retrieval")
    return {"retrieval score (NIAH)", "fraction of copy steps",
            "Wu et al. 2024: at each generated token copied from the needle, whether the head's\n"
            "most-attended key was that needle token; from headlight-cli niah --retrieval-scores."};
  return {name, "", ""};
}

std::vector<std::string> head_stat_names(const wb::Snapshot& s) {
  if (s.steered && s.steered->stats) return s.steered->stats->names;
  if (s.baseline && s.baseline->stats) return s.baseline->stats->names;
  return {"span_mass_after", "span_mass_last", "entropy", "max", "sink", "attn_distance", "future_influence"};
}

std::string head_metric_title(const std::string& name) {
  const HeadMetricInfo i = head_metric_info(name);
  return i.unit.empty() ? i.label : i.label + " (" + i.unit + ")";
}

}  // namespace hl::gui
