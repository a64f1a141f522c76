#include "app/gui/token_diff.h"

#include <algorithm>

namespace hl::gui {

TokenDiff diff_tokens(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  TokenDiff d;
  const size_t n = a.size(), m = b.size();
  d.a_changed.assign(n, 1);
  d.b_changed.assign(m, 1);
  if (n * m > (size_t{1} << 22)) {
    for (size_t i = 0; i < std::min(n, m); ++i) d.a_changed[i] = d.b_changed[i] = a[i] != b[i];
    return d;
  }
  // len[i][j]: LCS length of a[i:], b[j:].
  std::vector<uint32_t> len((n + 1) * (m + 1), 0);
  auto at = [&](size_t i, size_t j) -> uint32_t& { return len[i * (m + 1) + j]; };
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;) at(i, j) = a[i] == b[j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
  size_t i = 0, j = 0;
  while (i < n && j < m) {
    if (a[i] == b[j]) {
      d.a_changed[i++] = 0;
      d.b_changed[j++] = 0;
    } else if (at(i + 1, j) >= at(i, j + 1)) {
      ++i;
    } else {
      ++j;
    }
  }
  return d;
}

}  // namespace hl::gui
