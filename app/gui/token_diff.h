// Which generated tokens differ between the baseline and the steered continuation, as a reader sees it: tokens
// outside a longest common subsequence. (Comparing by position would mark everything after the first change, since
// one inserted word shifts the rest.)
#pragma once
#include <cstdint>
#include <vector>

namespace hl::gui {

struct TokenDiff {
  std::vector<char> a_changed, b_changed;  // per token of a and of b: 1 = not in the common subsequence
};

// Exact LCS up to 4M cells (two 2048-token texts); beyond that, position by position.
TokenDiff diff_tokens(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

}  // namespace hl::gui
