// Unicode helpers shared by the tokenizers: character classes and UTF-8 stepping.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hl::unicode {

bool is_letter(char32_t c);  // General_Category L (Lu Ll Lt Lm Lo)
bool is_number(char32_t c);  // General_Category N (Nd Nl No)
bool is_space(char32_t c);   // White_Space

// Decodes the code point at s[pos]; sets `len` to its byte length. An invalid or truncated sequence
// yields U+FFFD with len 1, so every byte of any input belongs to exactly one "character".
char32_t decode_utf8(std::string_view s, size_t pos, size_t& len);

void append_utf8(std::string& out, char32_t c);

// Decodes bytes as Python's bytes.decode("utf-8", errors="replace") does: each maximal invalid subpart
// becomes one U+FFFD.
std::string utf8_replace_invalid(std::string_view bytes);

// Byte offset -> code-point index of the character containing that byte; size()+1 entries, the last
// being the number of characters.
std::vector<int64_t> byte_to_char_index(std::string_view s);

}  // namespace hl::unicode
