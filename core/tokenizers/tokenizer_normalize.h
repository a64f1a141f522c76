// Unicode normalisation for tokenizer.json normalizers (NFC, NFD, NFKC, NFKD), through ICU, with a map from
// every byte of the normalised text back to the input bytes it came from, so that token offsets still point
// into the text the user gave (spans, emphasis, highlighting).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hl::unicode {

enum class NormalForm { kNone, kNFC, kNFD, kNFKC, kNFKD };

// "NFC", "NFD", "NFKC", "NFKD" (tokenizer.json normalizer types); nullopt for anything else.
std::optional<NormalForm> normal_form_named(std::string_view name);

struct NormalizedText {
  bool identity = false;  // the input is already in the form: `text` and `source` are left empty
  std::string text;
  // source[i] = the input bytes [first, second) that byte i of text came from: a character normalisation left
  // alone maps to itself, every byte of a run it rewrote maps to the whole run.
  std::vector<std::pair<int64_t, int64_t>> source;
};

// Normalises UTF-8 text run by run (runs start where ICU reports a normalisation boundary). Bytes that are not
// valid UTF-8 pass through unchanged, each as its own run. Throws hl::Error if ICU cannot provide the form.
NormalizedText normalize(std::string_view utf8, NormalForm form);

}  // namespace hl::unicode
