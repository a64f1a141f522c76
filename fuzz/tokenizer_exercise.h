// Runs a loaded tokenizer over text that touches special tokens, multi-byte characters and invalid UTF-8,
// and checks the offsets it returns: a hostile vocabulary must not make encode or decode misbehave.
#pragma once
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/tokenizers/tokenizer.h"
#include "fuzz/fuzz_support.h"

namespace hl::fuzz {

inline void exercise_tokenizer(const Tokenizer& tok) {
  // Composed and decomposed accents and a ligature: normalizers rewrite them, offsets must still fit the input.
  static const std::string kText = std::string("Hello wörld <s></s><|endoftext|> 日本語 \t\n  x") + "\xff\xc3" +
                                   " cafe\xcc\x81 \xef\xac\x81n\xcc\x88 end";
  for (const bool special : {true, false}) {
    EncodeOptions opt;
    opt.add_bos = special;
    opt.split_special = special;
    const Encoding enc = tok.encode(kText, opt);
    if (enc.offsets.size() != enc.ids.size() || enc.byte_offsets.size() != enc.ids.size()) __builtin_trap();
    for (const auto& [b, e] : enc.byte_offsets)
      if (b < 0 || b > e || e > static_cast<int64_t>(kText.size())) __builtin_trap();
    for (const int64_t id : enc.ids)
      if (id < 0) __builtin_trap();
    (void)tok.decode(enc.ids, special);
  }
  const int64_t n = tok.vocab_size();
  for (const int64_t id : {int64_t(0), n / 2, n - 1})
    if (id >= 0 && id < n) (void)tok.token_text(id);
}

// The body of the tokenizer-file targets: the input written as `name`, loaded by load_tokenizer (which picks
// the kind from the name), then exercised. hl::Error is the accepted refusal.
inline int fuzz_tokenizer_file(const char* name, const uint8_t* data, size_t size) {
  const auto path = write_scratch(name, data, size);
  try {
    exercise_tokenizer(*load_tokenizer(path));
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace hl::fuzz
