// The record loop every JSON Lines reader shares (task files, task suites): one record per non-blank line, CR
// stripped, each named "FILE:LINE" in errors, lines and record counts bounded so a hostile file cannot exhaust memory.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace hl {

// Calls fn(line, where, line_no) for each record. Throws hl::Error for a line over max_line_bytes or a record past
// max_records.
template <class Fn>
void for_each_jsonl_record(std::string_view text, const std::string& source, int64_t max_line_bytes,
                           int64_t max_records, Fn&& fn) {
  int64_t line_no = 0, records = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    const std::string where = source + ":" + std::to_string(line_no);
    if (static_cast<int64_t>(line.size()) > max_line_bytes)
      throw Error(where + ": record longer than " + std::to_string(max_line_bytes) + " bytes");
    if (records++ >= max_records) throw Error(source + ": more than " + std::to_string(max_records) + " records");
    fn(line, where, line_no);
  }
}

}  // namespace hl
