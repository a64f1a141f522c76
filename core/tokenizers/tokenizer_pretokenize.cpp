// Hand-written matchers for the pre-tokenizer regexes: each alternative is tried in order at the current
// position (leftmost-first, like Python's `regex` and Rust's fancy-regex), with the backtracking of
// `\s+(?!\S)` and `\s*[\r\n]+` worked out in closed form.
#include "core/tokenizers/tokenizer_pretokenize.h"

#include <string>

#include "core/tokenizers/tokenizer_unicode.h"

namespace hl::tok {
namespace {

struct Chars {
  std::vector<char32_t> cp;
  std::vector<size_t> byte_pos;  // cp.size() + 1 entries
};

Chars decode_all(std::string_view text) {
  Chars c;
  c.cp.reserve(text.size());
  c.byte_pos.reserve(text.size() + 1);
  for (size_t pos = 0; pos < text.size();) {
    size_t len;
    c.cp.push_back(unicode::decode_utf8(text, pos, len));
    c.byte_pos.push_back(pos);
    pos += len;
  }
  c.byte_pos.push_back(text.size());
  return c;
}

using unicode::is_letter;
using unicode::is_number;
using unicode::is_space;

bool is_other(char32_t c) { return !is_space(c) && !is_letter(c) && !is_number(c); }
bool is_crlf(char32_t c) { return c == '\r' || c == '\n'; }

// Case folding for the letters of the contractions; U+017F LONG S folds to 's' under (?i).
char32_t fold(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  return c == 0x17F ? U's' : c;
}

// 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive; returns the match length or 0.
size_t match_contraction(const std::vector<char32_t>& s, size_t i, bool ignore_case) {
  if (s[i] != '\'' || i + 1 >= s.size()) return 0;
  auto at = [&](size_t k) { return ignore_case ? fold(s[k]) : s[k]; };
  const char32_t a = at(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 < s.size()) {
    const char32_t b = at(i + 2);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  return 0;
}

template <typename Pred>
size_t run_of(const std::vector<char32_t>& s, size_t i, Pred pred) {
  size_t j = i;
  while (j < s.size() && pred(s[j])) ++j;
  return j - i;
}

// \s+(?!\S) then \s+: a whitespace run followed by a non-space leaves its last character to the next
// token (as a possible " " prefix), unless the run is a single character.
size_t match_whitespace_tail(const std::vector<char32_t>& s, size_t i) {
  const size_t n = run_of(s, i, is_space);
  if (n == 0) return 0;
  if (i + n == s.size() || n == 1) return n;
  return n - 1;
}

size_t match_gpt2(const std::vector<char32_t>& s, size_t i) {
  if (size_t n = match_contraction(s, i, false)) return n;
  const size_t sp = (s[i] == ' ' && i + 1 < s.size()) ? 1 : 0;
  for (auto pred : {is_letter, is_number, is_other}) {
    // With a leading ' ' that is not followed by the class, the space-less retry fails too (' ' is in
    // none of the three classes), so one probe per class suffices.
    if (size_t n = run_of(s, i + sp, pred)) return sp + n;
  }
  if (size_t n = match_whitespace_tail(s, i)) return n;
  return 1;  // not reached: every character is a letter, number, space or other
}

size_t match_llama3(const std::vector<char32_t>& s, size_t i, size_t max_digits) {
  if (size_t n = match_contraction(s, i, true)) return n;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (!is_crlf(s[i]) && !is_letter(s[i]) && !is_number(s[i]) && i + 1 < s.size()) {
    if (size_t n = run_of(s, i + 1, is_letter)) return 1 + n;
  }
  if (size_t n = run_of(s, i, is_letter)) return n;
  // \p{N}{1,3}
  if (size_t n = run_of(s, i, is_number)) return n < max_digits ? n : max_digits;
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  {
    const size_t sp = (s[i] == ' ') ? 1 : 0;
    if (size_t n = run_of(s, i + sp, is_other)) {
      const size_t j = i + sp + n;
      return sp + n + run_of(s, j, is_crlf);
    }
  }
  // \s*[\r\n]+ : ends after the last CR/LF inside the whitespace run.
  {
    const size_t n = run_of(s, i, is_space);
    for (size_t k = n; k > 0; --k)
      if (is_crlf(s[i + k - 1])) return k;
  }
  if (size_t n = match_whitespace_tail(s, i)) return n;
  return 1;
}

}  // namespace

const char* pretokenizer_pattern(PretokenizerKind kind) {
  switch (kind) {
    case PretokenizerKind::kGpt2:
      return "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    case PretokenizerKind::kLlama3:
      return "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
             "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    case PretokenizerKind::kQwen2:
      return "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
             "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  }
  return "";
}

std::vector<std::pair<size_t, size_t>> pretokenize(std::string_view text, PretokenizerKind kind) {
  const Chars c = decode_all(text);
  std::vector<std::pair<size_t, size_t>> spans;
  for (size_t i = 0; i < c.cp.size();) {
    size_t n;
    switch (kind) {
      case PretokenizerKind::kGpt2: n = match_gpt2(c.cp, i); break;
      case PretokenizerKind::kLlama3: n = match_llama3(c.cp, i, 3); break;
      default: n = match_llama3(c.cp, i, 1); break;
    }
    spans.emplace_back(c.byte_pos[i], c.byte_pos[i + n]);
    i += n;
  }
  return spans;
}

}  // namespace hl::tok
