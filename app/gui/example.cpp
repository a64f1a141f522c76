#include "app/gui/example.h"

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_read.h"
#include "core/json_limits.h"
#include "app/gui/gui_state.h"

namespace hl::gui {

wb::Document example_document() {
  wb::Document d;
  d.prompt = "Once upon a time, there was a little girl named Lily. She loved her red ball.";
  d.spec.method = SteeringMethod::Guide;
  d.spec.delta = 1.0;
  d.spec.emphasis = {"She loved her red ball."};
  return d;
}

wb::Document example_document_for(const std::string& model_path) {
  namespace fs = std::filesystem;
  fs::path dir = model_path;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) dir = dir.parent_path();
  const fs::path file = dir / "example.json";
  if (!fs::is_regular_file(file, ec)) return example_document();
  const auto j = parse_json_bounded(read_file_bounded(file, 1 << 20, "example"), file.string());
  if (!j.is_object()) throw Error(file.string() + ": not a JSON object");
  if (!j.contains("prompt") || !j["prompt"].is_string()) throw Error(file.string() + ": field \"prompt\" must be a string");
  wb::Document d;
  d.prompt = j["prompt"].get<std::string>();
  if (j.contains("steering")) d.spec = parse_steering_spec(j["steering"].dump(), file.string() + ": steering", dir);
  if (j.contains("focus")) {
    const std::string f = j["focus"].is_string() ? j["focus"].get<std::string>() : "";
    if (!parse_head_name(f, &d.focus_layer, &d.focus_head))
      throw Error(file.string() + ": field \"focus\" must name a head like L1H5 (got " + j["focus"].dump() + ")");
  }
  return d;
}

std::shared_ptr<const wb::AttentionMap> synthetic_attention_map(int64_t n) {
  auto m = std::make_shared<wb::AttentionMap>();
  m->rows = m->cols = n;
  m->prompt_len = n * 3 / 4;
  m->layer = 0;
  m->head = 0;
  m->values.assign(static_cast<size_t>(n * n), 0.f);
  m->token_texts.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    m->token_texts[static_cast<size_t>(i)] = "t" + std::to_string(i);
    float* row = m->values.data() + i * n;
    double sum = 0;
    for (int64_t j = 0; j <= i; ++j) {
      const double recency = std::exp(-static_cast<double>(i - j) / 24.0);
      const double stripe = (j % 97 == 5) ? 0.3 : 0.0;
      const double w = (j == 0 ? 4.0 : 0.0) + recency + stripe;
      row[j] = static_cast<float>(w);
      sum += w;
    }
    for (int64_t j = 0; j <= i; ++j) row[j] = static_cast<float>(row[j] / sum);
  }
  return m;
}

}  // namespace hl::gui
