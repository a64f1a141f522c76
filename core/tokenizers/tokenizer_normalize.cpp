#include "core/tokenizers/tokenizer_normalize.h"

#include <unicode/unorm2.h>
#include <unicode/utypes.h>

#include <algorithm>

#include "core/error.h"
#include "core/tokenizers/tokenizer_unicode.h"

namespace hl::unicode {
namespace {

const char* name_of(NormalForm f) {
  switch (f) {
    case NormalForm::kNFC: return "NFC";
    case NormalForm::kNFD: return "NFD";
    case NormalForm::kNFKC: return "NFKC";
    case NormalForm::kNFKD: return "NFKD";
    case NormalForm::kNone: break;
  }
  return "none";
}

const UNormalizer2* instance(NormalForm f) {
  UErrorCode e = U_ZERO_ERROR;
  const UNormalizer2* n = nullptr;
  switch (f) {
    case NormalForm::kNFC: n = unorm2_getNFCInstance(&e); break;
    case NormalForm::kNFD: n = unorm2_getNFDInstance(&e); break;
    case NormalForm::kNFKC: n = unorm2_getNFKCInstance(&e); break;
    case NormalForm::kNFKD: n = unorm2_getNFKDInstance(&e); break;
    case NormalForm::kNone: break;
  }
  if (U_FAILURE(e) || n == nullptr)
    throw Error(std::string("Unicode normalisation ") + name_of(f) + " is not available from ICU (" + u_errorName(e) + ")");
  return n;
}

void append_utf16(std::vector<UChar>& out, char32_t c) {
  if (c < 0x10000) {
    out.push_back(static_cast<UChar>(c));
  } else {
    c -= 0x10000;
    out.push_back(static_cast<UChar>(0xD800 + (c >> 10)));
    out.push_back(static_cast<UChar>(0xDC00 + (c & 0x3FF)));
  }
}

void append_utf16_as_utf8(std::string& out, const UChar* s, int32_t n) {
  for (int32_t i = 0; i < n; ++i) {
    char32_t c = s[i];
    if (c >= 0xD800 && c < 0xDC00 && i + 1 < n && s[i + 1] >= 0xDC00 && s[i + 1] < 0xE000) {
      c = 0x10000 + ((c - 0xD800) << 10) + (s[i + 1] - 0xDC00);
      ++i;
    }
    append_utf8(out, c);  // ICU's output holds no unpaired surrogates for valid input
  }
}

}  // namespace

std::optional<NormalForm> normal_form_named(std::string_view name) {
  for (NormalForm f : {NormalForm::kNFC, NormalForm::kNFD, NormalForm::kNFKC, NormalForm::kNFKD})
    if (name == name_of(f)) return f;
  return std::nullopt;
}

NormalizedText normalize(std::string_view s, NormalForm form) {
  NormalizedText out;
  if (form == NormalForm::kNone ||
      std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    out.identity = true;  // ASCII is invariant under all four forms
    return out;
  }
  const UNormalizer2* n2 = instance(form);
  bool changed = false;
  std::vector<UChar> run, normalized;
  size_t a = 0;  // start of the current run in s
  auto copy_through = [&](size_t b, size_t e) {
    out.text.append(s.substr(b, e - b));
    for (size_t i = b; i < e; ++i) out.source.emplace_back(static_cast<int64_t>(i), static_cast<int64_t>(i + 1));
  };
  auto flush = [&](size_t b) {  // the run s[a, b), whose UTF-16 form is in `run`
    if (b == a) return;
    UErrorCode e = U_ZERO_ERROR;
    const auto len = static_cast<int32_t>(run.size());
    if (unorm2_isNormalized(n2, run.data(), len, &e) || U_FAILURE(e)) {
      if (U_FAILURE(e)) throw Error(std::string("Unicode normalisation failed (") + u_errorName(e) + ")");
      copy_through(a, b);
    } else {
      normalized.resize(static_cast<size_t>(len) * 4 + 8);
      e = U_ZERO_ERROR;
      int32_t n = unorm2_normalize(n2, run.data(), len, normalized.data(), static_cast<int32_t>(normalized.size()), &e);
      if (e == U_BUFFER_OVERFLOW_ERROR) {
        normalized.resize(static_cast<size_t>(n));
        e = U_ZERO_ERROR;
        n = unorm2_normalize(n2, run.data(), len, normalized.data(), n, &e);
      }
      if (U_FAILURE(e)) throw Error(std::string("Unicode normalisation failed (") + u_errorName(e) + ")");
      const size_t before = out.text.size();
      append_utf16_as_utf8(out.text, normalized.data(), n);
      out.source.resize(out.text.size(), {static_cast<int64_t>(a), static_cast<int64_t>(b)});
      changed = changed || out.text.compare(before, std::string::npos, s.substr(a, b - a)) != 0;
    }
    run.clear();
    a = b;
  };
  size_t pos = 0;
  while (pos < s.size()) {
    size_t len = 0;
    const char32_t c = decode_utf8(s, pos, len);
    if (c == 0xFFFD && len == 1) {  // not UTF-8: the byte passes through as its own run
      flush(pos);
      copy_through(pos, pos + 1);
      a = pos + 1;
      pos += 1;
      continue;
    }
    if (pos > a && unorm2_hasBoundaryBefore(n2, static_cast<UChar32>(c))) flush(pos);
    append_utf16(run, c);
    pos += len;
  }
  flush(s.size());
  if (!changed) {
    out = NormalizedText();
    out.identity = true;
  }
  return out;
}

}  // namespace hl::unicode
