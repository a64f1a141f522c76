// UTF-8 stepping and Python-compatible lossy decoding for the tokenizers.
#include "core/tokenizers/tokenizer_unicode.h"

namespace hl::unicode {
namespace {

// Length of the valid UTF-8 prefix starting at s[pos] under the Unicode "maximal subpart" rule:
// returns the full sequence length if valid (valid = true), else the number of bytes forming the
// maximal invalid subpart (at least 1).
size_t scan_sequence(std::string_view s, size_t pos, bool& valid) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  valid = false;
  if (b0 < 0x80) {
    valid = true;
    return 1;
  }
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  for (size_t k = 1; k <= need; ++k) {
    if (pos + k >= s.size()) return k;
    const auto b = static_cast<unsigned char>(s[pos + k]);
    const unsigned char l = (k == 1) ? lo : 0x80, h = (k == 1) ? hi : 0xBF;
    if (b < l || b > h) return k;
  }
  valid = true;
  return need + 1;
}

}  // namespace

char32_t decode_utf8(std::string_view s, size_t pos, size_t& len) {
  bool valid;
  const size_t n = scan_sequence(s, pos, valid);
  if (!valid) {
    len = 1;
    return 0xFFFD;
  }
  len = n;
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (n == 1) return b0;
  char32_t c = b0 & (0xFF >> (n + 1));
  for (size_t k = 1; k < n; ++k) c = (c << 6) | (static_cast<unsigned char>(s[pos + k]) & 0x3F);
  return c;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::string utf8_replace_invalid(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t pos = 0; pos < bytes.size();) {
    bool valid;
    const size_t n = scan_sequence(bytes, pos, valid);
    if (valid) {
      out.append(bytes.substr(pos, n));
    } else {
      append_utf8(out, 0xFFFD);
    }
    pos += n;
  }
  return out;
}

std::vector<int64_t> byte_to_char_index(std::string_view s) {
  std::vector<int64_t> index(s.size() + 1);
  int64_t chars = 0;
  for (size_t pos = 0; pos < s.size();) {
    size_t len;
    decode_utf8(s, pos, len);
    for (size_t k = 0; k < len; ++k) index[pos + k] = chars;
    ++chars;
    pos += len;
  }
  index[s.size()] = chars;
  return index;
}

}  // namespace hl::unicode
