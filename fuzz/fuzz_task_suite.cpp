// Profiling task suites (JSONL) through parse_suite_jsonl. An accepted suite must hold at most as many examples as
// lines, unique ids, a prompt per example, an emphasis inside it or spans inside its characters, and a target
// where its scorer needs one; written back with suite_to_jsonl it must parse to the same content hash.
#include <set>

#include "analysis/task_suite.h"
#include "core/error.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = hl::fuzz::as_text(data, size);
  hl::SuiteLimits lim;
  lim.max_line_bytes = 4096;
  try {
    const hl::TaskSuite s = hl::parse_suite_jsonl(text, "fuzz.jsonl", "fuzz", lim);
    int64_t lines = 1;
    for (char c : text) lines += c == '\n';
    if (s.examples.empty() || static_cast<int64_t>(s.examples.size()) > lines) __builtin_trap();
    std::set<std::string> ids;
    for (const auto& e : s.examples) {
      if (e.prompt.empty() || !ids.insert(e.id).second) __builtin_trap();
      if (e.emphasis.empty() == e.spans.empty()) __builtin_trap();
      if (!e.emphasis.empty() && e.prompt.find(e.emphasis) == std::string::npos) __builtin_trap();
      for (auto [a, b] : e.spans)
        if (a < 0 || b <= a) __builtin_trap();
      if (s.scorer != hl::SuiteScorer::PronounChange && e.target.empty()) __builtin_trap();
    }
    const hl::TaskSuite again = hl::parse_suite_jsonl(hl::suite_to_jsonl(s), "again.jsonl", "fuzz", lim);
    if (hl::suite_content_hash(again) != hl::suite_content_hash(s)) __builtin_trap();
  } catch (const hl::Error&) {
  }
  return 0;
}
