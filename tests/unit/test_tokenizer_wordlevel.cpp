// HF WordLevel tokenizer.json (the model organism's kind): whole words -> ids, unknown words -> unk, specials split
// out first, offsets into the text, decode joins with spaces (HF's decode without a decoder); what it does not
// implement is refused by name.
#include <doctest/doctest.h>

#include "core/error.h"
#include "core/tokenizers/tokenizer.h"
#include "tests/scratch_dir.h"

using hl_test::ScratchDir;

namespace {

const char* kJson = R"({"version": "1.0", "added_tokens": [
  {"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true},
  {"id": 2, "content": "</s>", "special": true}],
 "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null, "decoder": null,
 "model": {"type": "WordLevel", "unk_token": "<unk>",
   "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "zorano": 3, "color": 4, "is": 5, "teal": 6, ".": 7, "?": 8, "café": 9}}})";

std::string error_of(const ScratchDir& d, const std::string& json) {
  const auto p = d.write("tokenizer.json", json);
  try {
    hl::load_tokenizer(p);
  } catch (const hl::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("WordLevel: words, punctuation, unknown words, specials and offsets") {
  ScratchDir d("wordlevel");
  d.write("tokenizer.json", kJson);
  const auto tok = hl::load_tokenizer(d.dir);
  CHECK(tok->kind() == "wordlevel");
  CHECK(tok->vocab_size() == 10);
  CHECK(tok->bos_id() == 1);
  CHECK(tok->eos_id() == 2);

  // Whitespace pre-tokenizer: \w+ | [^\w\s]+, so "teal." is two words and "?!" one piece (unknown -> unk).
  const auto e = tok->encode("zorano  color is teal. blorp ?!");
  CHECK(e.ids == std::vector<int64_t>{3, 4, 5, 6, 7, 0, 0});
  REQUIRE(e.offsets.size() == 7);
  CHECK(e.offsets[0] == std::pair<int64_t, int64_t>{0, 6});
  CHECK(e.offsets[1] == std::pair<int64_t, int64_t>{8, 13});
  CHECK(e.offsets[4] == std::pair<int64_t, int64_t>{21, 22});
  CHECK(e.offsets[6] == std::pair<int64_t, int64_t>{29, 31});

  // Non-ASCII letters are word characters; offsets count code points, byte offsets bytes.
  const auto c = tok->encode("café is");
  CHECK(c.ids == std::vector<int64_t>{9, 5});
  CHECK(c.offsets[1] == std::pair<int64_t, int64_t>{5, 7});
  CHECK(c.byte_offsets[1] == std::pair<int64_t, int64_t>{6, 8});

  // BOS on request; special-token strings split out (or taken as text when split_special is off).
  hl::EncodeOptions bos;
  bos.add_bos = true;
  CHECK(tok->encode("teal", bos).ids == std::vector<int64_t>{1, 6});
  CHECK(tok->encode("teal</s>teal").ids == std::vector<int64_t>{6, 2, 6});
  hl::EncodeOptions literal;
  literal.split_special = false;
  CHECK(tok->encode("teal</s>", literal).ids == std::vector<int64_t>{6, 0, 0, 0});  // "</", "s", ">"

  CHECK(tok->decode({1, 3, 4, 5, 6, 7}) == "<s> zorano color is teal .");
  CHECK(tok->decode({1, 3, 4, 2}, true) == "zorano color");
  CHECK(tok->token_text(6) == " teal");
  CHECK_THROWS_AS(tok->decode({10}), hl::Error);
}

TEST_CASE("WordLevel: WhitespaceSplit keeps punctuation attached") {
  ScratchDir d("wordlevel_ws");
  std::string j = kJson;
  j.replace(j.find("\"Whitespace\""), 12, "\"WhitespaceSplit\"");
  d.write("tokenizer.json", j);
  const auto tok = hl::load_tokenizer(d.dir);
  CHECK(tok->encode("teal. is").ids == std::vector<int64_t>{0, 5});
}

TEST_CASE("WordLevel: what is not implemented or inconsistent is refused by name") {
  ScratchDir d("wordlevel_bad");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string j = kJson;
    const auto at = j.find(from);
    REQUIRE(at != std::string::npos);
    return j.replace(at, from.size(), to);
  };
  CHECK(error_of(d, with("\"decoder\": null", "\"decoder\": {\"type\": \"WordPiece\"}")).find("decoder 'WordPiece'") != std::string::npos);
  CHECK(error_of(d, with("\"normalizer\": null", "\"normalizer\": {\"type\": \"Lowercase\"}")).find("normalizer Lowercase") != std::string::npos);
  CHECK(error_of(d, with("{\"type\": \"Whitespace\"}", "{\"type\": \"Metaspace\"}")).find("pre_tokenizer 'Metaspace'") != std::string::npos);
  CHECK(error_of(d, with("\"unk_token\": \"<unk>\"", "\"unk_token\": \"<missing>\"")).find("unk_token '<missing>'") != std::string::npos);
  CHECK(error_of(d, with("\"café\": 9", "\"café\": 12")).find("not contiguous") != std::string::npos);
  CHECK(error_of(d, with("\"café\": 9", "\"café\": 8")).find("id 8 is given twice") != std::string::npos);
  CHECK(error_of(d, with("\"café\": 9", "\"café\": \"9\"")).find("model.vocab[\"café\"] is not an integer") != std::string::npos);
  // Without an unk token an unknown word is an error naming it, at encode time.
  d.write("tokenizer.json", with("\"unk_token\": \"<unk>\"", "\"unk_token\": null"));
  const auto tok = hl::load_tokenizer(d.dir);
  try {
    tok->encode("zorano blorp");
    FAIL("no error for an unknown word");
  } catch (const hl::Error& e) {
    CHECK(std::string(e.what()).find("'blorp' is not in the vocabulary") != std::string::npos);
  }
}
