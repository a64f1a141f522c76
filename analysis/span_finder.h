// From characters to tokens: locate a substring in the prompt text and map a code-point range to the
// token range covering it, given the tokenizer's per-token code-point offsets (hl::Encoding::offsets).
// Two rules (methods.md §2.3):
//   SpanMatch::Overlap (default)  token t is in the span iff cs_t < char_end && ce_t > char_start; tokens
//                                 with cs_t == ce_t (BOS, pads, other specials) never match.
//   SpanMatch::Pasta              pastalib's find_token_range: start = first t with cs_t <= char_start <= ce_t,
//                                 end = first t with cs_t <= char_end <= ce_t, result [start, end + 1).
//                                 Inclusive bounds, so the token ending where the span starts (e.g. a "\n"
//                                 before an instruction) is included, and a (0,0) BOS/pad matches char 0.
// Torch-free.
#pragma once
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "core/steering/steering_spec.h"

namespace hl {

struct CharRange {
  int64_t begin = 0, end = 0;  // Unicode code points, [begin, end)
};

using TokenOffsets = std::vector<std::pair<int64_t, int64_t>>;

// Code-point range of the (occurrence + 1)-th occurrence of `needle` in `text` (UTF-8). Like Python's
// str.index loop in pastalib, the search for the next occurrence starts one character after the previous
// match, so overlapping occurrences count. Throws hl::Error if there are fewer occurrences.
CharRange find_substring(std::string_view text, std::string_view needle, int64_t occurrence = 0);

// Token range for a code-point range. Throws hl::Error if no token matches (e.g. the range lies in text
// the tokenizer dropped, or is empty).
TokenRange char_range_to_tokens(const TokenOffsets& offsets, CharRange chars, SpanMatch rule = SpanMatch::Overlap);

// find_substring + char_range_to_tokens.
TokenRange find_token_span(std::string_view text, const TokenOffsets& offsets, std::string_view needle,
                           int64_t occurrence = 0, SpanMatch rule = SpanMatch::Overlap);

}  // namespace hl
