// Profiling task datasets (JSONL) through parse_task_jsonl; the first byte picks the kind. An accepted file
// must hold as many records as non-blank lines, with unique ids and no empty field.
#include <set>

#include "analysis/task_file.h"
#include "core/error.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const hl::TaskKind kinds[] = {hl::TaskKind::Auto, hl::TaskKind::CounterFact, hl::TaskKind::PairQa};
  const std::string text = hl::fuzz::as_text(data + 1, size - 1);
  hl::TaskFileLimits lim;
  lim.max_line_bytes = 4096;
  try {
    const hl::TaskFile t = hl::parse_task_jsonl(text, "fuzz.jsonl", kinds[data[0] % 3], lim);
    int64_t lines = 1;
    for (char c : text) lines += c == '\n';
    if (t.size() <= 0 || t.size() > lines || t.kind == hl::TaskKind::Auto) __builtin_trap();
    std::set<int64_t> ids;
    for (const auto& c : t.counterfact)
      if (c.correct.empty() || c.incorrect.empty() || !ids.insert(c.case_id).second) __builtin_trap();
    for (const auto& q : t.pair_qa)
      for (int p = 0; p < 2; ++p)
        if (q.context[p].empty() || q.question[p].empty() || q.answer[p].empty()) __builtin_trap();
  } catch (const hl::Error&) {
  }
  return 0;
}
