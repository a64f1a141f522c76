// tokenizer.json normalizers: the Unicode forms through ICU, and token offsets mapped back into the input.
#include <nlohmann/json.hpp>

#include <fstream>

#include "core/error.h"
#include "core/tokenizers/tokenizer_normalize.h"
#include "tests/scratch_dir.h"
#include "tests/unit/test_tokenizer_goldens.h"

using namespace hl_test;
using hl::unicode::NormalForm;

namespace {

const std::string kCafeComposed = "Caf\xC3\xA9";     // "Café", é = U+00E9
const std::string kCafeDecomposed = "Cafe\xCC\x81";  // "Cafe" + U+0301 COMBINING ACUTE ACCENT

// The GPT-2 fixture tokenizer.json with `normalizer` set, in a scratch directory.
std::unique_ptr<hl::Tokenizer> gpt2_with_normalizer(const ScratchDir& dir, const nlohmann::json& normalizer) {
  std::ifstream in(fixtures() / "gpt2" / "tokenizer.json");
  REQUIRE(in.good());
  nlohmann::json j = nlohmann::json::parse(in);
  j["normalizer"] = normalizer;
  const auto sub = dir.dir / "tok";
  std::filesystem::create_directories(sub);
  std::ofstream(sub / "tokenizer.json") << j.dump();
  return hl::load_tokenizer(sub / "tokenizer.json");
}

}  // namespace

TEST_CASE("normalize: the four Unicode forms, with every output byte traced to its input run") {
  // NFC composes e + U+0301 into U+00E9; both bytes of é come from the run "e\u0301" at bytes [3, 6).
  auto n = hl::unicode::normalize(kCafeDecomposed + " x", NormalForm::kNFC);
  REQUIRE_FALSE(n.identity);
  CHECK(n.text == kCafeComposed + " x");
  REQUIRE(n.source.size() == n.text.size());
  CHECK(n.source[0] == std::make_pair<int64_t, int64_t>(0, 1));
  CHECK(n.source[3] == std::make_pair<int64_t, int64_t>(3, 6));
  CHECK(n.source[4] == std::make_pair<int64_t, int64_t>(3, 6));
  CHECK(n.source[5] == std::make_pair<int64_t, int64_t>(6, 7));  // the space after it maps one to one
  // NFD decomposes; NFKC/NFKD also fold compatibility characters (U+FB01 LATIN SMALL LIGATURE FI).
  CHECK(hl::unicode::normalize(kCafeComposed, NormalForm::kNFD).text == kCafeDecomposed);
  CHECK(hl::unicode::normalize("\xEF\xAC\x81" "le", NormalForm::kNFKC).text == "file");
  CHECK(hl::unicode::normalize("\xEF\xAC\x81" "l" "\xC3\xA9", NormalForm::kNFKD).text == "file\xCC\x81");
  CHECK(hl::unicode::normalize("\xEF\xAC\x81", NormalForm::kNFC).identity);  // canonical forms keep ligatures
  // Text already in the form, and ASCII, come back as identity (the caller keeps the input).
  CHECK(hl::unicode::normalize(kCafeComposed, NormalForm::kNFC).identity);
  CHECK(hl::unicode::normalize("plain ascii", NormalForm::kNFKD).identity);
  CHECK(hl::unicode::normalize(kCafeDecomposed, NormalForm::kNone).identity);
  // Bytes that are not UTF-8 pass through unchanged, each traced to itself, between normalised runs.
  n = hl::unicode::normalize("a\xFF" + kCafeDecomposed, NormalForm::kNFC);
  CHECK(n.text == "a\xFF" + kCafeComposed);
  CHECK(n.source[1] == std::make_pair<int64_t, int64_t>(1, 2));
  CHECK(n.source[5] == std::make_pair<int64_t, int64_t>(5, 8));
  // Names as tokenizer.json spells them.
  CHECK(hl::unicode::normal_form_named("NFKC") == NormalForm::kNFKC);
  CHECK_FALSE(hl::unicode::normal_form_named("Lowercase").has_value());
}

TEST_CASE("an NFC tokenizer.json encodes decomposed text as the composed text, offsets into the input") {
  ScratchDir dir("nfc");
  const auto nfc = gpt2_with_normalizer(dir, {{"type", "NFC"}});
  const auto plain = hl::load_tokenizer(fixtures() / "gpt2" / "tokenizer.json");
  const std::string composed = kCafeComposed + " au lait", decomposed = kCafeDecomposed + " au lait";
  const auto want = plain->encode(composed);
  // Composed input: exactly the plain tokenizer's result.
  const auto same = nfc->encode(composed);
  CHECK(same.ids == want.ids);
  CHECK(same.byte_offsets == want.byte_offsets);
  // Decomposed input: the ids of the composed text (the plain tokenizer sees other bytes and other ids) ...
  const auto got = nfc->encode(decomposed);
  CHECK(got.ids == want.ids);
  CHECK(plain->encode(decomposed).ids != want.ids);
  // ... and offsets into the decomposed input: the token holding é covers "e\u0301" (bytes 3..6, chars 3..5),
  // every later offset shifts by the extra byte/char, and the last token ends at the end of the input.
  REQUIRE(got.byte_offsets.size() == want.byte_offsets.size());
  for (size_t k = 0; k < got.ids.size(); ++k) {
    CAPTURE(k);
    const auto [wb, we] = want.byte_offsets[k];
    const auto [gb, ge] = got.byte_offsets[k];
    if (we <= 3) {
      CHECK(got.byte_offsets[k] == want.byte_offsets[k]);
    } else if (wb >= 5) {
      CHECK(gb == wb + 1);
      CHECK(ge == we + 1);
      CHECK(got.offsets[k].first == want.offsets[k].first + 1);
    } else {
      CHECK(gb <= 3);  // the token with é maps to the whole run it came from
      CHECK(ge >= 6);
    }
  }
  CHECK(got.byte_offsets.back().second == static_cast<int64_t>(decomposed.size()));
  CHECK(got.offsets.back().second == 13);  // "Cafe\u0301 au lait" is 13 code points
}

TEST_CASE("a tokenizer.json normalizer that is not a Unicode form is refused, naming the file and the type") {
  ScratchDir dir("norm_bad");
  for (const char* type : {"Lowercase", "Sequence", "BertNormalizer"}) {
    CAPTURE(type);
    std::string msg;
    try {
      gpt2_with_normalizer(dir, {{"type", type}});
    } catch (const hl::Error& e) {
      msg = e.what();
    }
    CHECK(msg.find("tokenizer.json") != std::string::npos);
    CHECK(msg.find(std::string("normalizer '") + type + "'") != std::string::npos);
  }
  std::string msg;
  try {
    gpt2_with_normalizer(dir, "NFC");  // a string, not an object
  } catch (const hl::Error& e) {
    msg = e.what();
  }
  CHECK(msg.find("normalizer") != std::string::npos);
}
