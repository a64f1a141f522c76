// The hand-written pre-tokenizer regexes against splits produced by Python's `regex` module (findall)
// for the GPT-2, Llama 3 and Qwen2 patterns. (During development they were also fuzzed against `regex`
// on 6000 random strings mixing letters, digits, Unicode spaces, marks, emoji and contractions.)
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tokenizers/tokenizer.h"
#include "core/tokenizers/tokenizer_pretokenize.h"

namespace {

using hl::tok::PretokenizerKind;

std::vector<std::string> split(const std::string& text, PretokenizerKind kind) {
  std::vector<std::string> parts;
  size_t expected_begin = 0;
  for (const auto& [b, e] : hl::tok::pretokenize(text, kind)) {
    CHECK(b == expected_begin);  // spans tile the text
    expected_begin = e;
    parts.push_back(text.substr(b, e - b));
  }
  CHECK(expected_begin == text.size());
  return parts;
}

using Parts = std::vector<std::string>;

}  // namespace

TEST_CASE("pre-tokenizer regexes match Python regex findall") {
  const std::string a = "HE'LL say 12345 things,\n\n  ok?";
  CHECK(split(a, PretokenizerKind::kGpt2) == Parts{"HE", "'", "LL", " say", " 12345", " things", ",", "\n\n ", " ok", "?"});
  CHECK(split(a, PretokenizerKind::kLlama3) ==
        Parts{"HE", "'LL", " say", " ", "123", "45", " things", ",\n\n", " ", " ok", "?"});
  CHECK(split(a, PretokenizerKind::kQwen2) ==
        Parts{"HE", "'LL", " say", " ", "1", "2", "3", "4", "5", " things", ",\n\n", " ", " ok", "?"});

  const std::string b = "  \t\r\n\nx";
  CHECK(split(b, PretokenizerKind::kGpt2) == Parts{"  \t\r\n", "\n", "x"});
  CHECK(split(b, PretokenizerKind::kLlama3) == Parts{"  \t\r\n\n", "x"});

  const std::string c = "(caf\xC3\xA9) 3.14!!\n";
  CHECK(split(c, PretokenizerKind::kGpt2) == Parts{"(", "caf\xC3\xA9", ")", " 3", ".", "14", "!!", "\n"});
  CHECK(split(c, PretokenizerKind::kLlama3) == Parts{"(caf\xC3\xA9", ")", " ", "3", ".", "14", "!!\n"});
  CHECK(split(c, PretokenizerKind::kQwen2) == Parts{"(caf\xC3\xA9", ")", " ", "3", ".", "1", "4", "!!\n"});

  // U+00B2 and U+00BD are \p{N} (No); CJK ideographs are \p{L}.
  const std::string d = "don't  \xC2\xB2\xC2\xBD \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E";
  CHECK(split(d, PretokenizerKind::kGpt2) == Parts{"don", "'t", " ", " \xC2\xB2\xC2\xBD", " \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"});
  CHECK(split(d, PretokenizerKind::kLlama3) ==
        Parts{"don", "'t", " ", " ", "\xC2\xB2\xC2\xBD", " \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"});

  CHECK(split("", PretokenizerKind::kGpt2).empty());
  // Invalid UTF-8 bytes are single "other" characters, never dropped.
  CHECK(split("a\xFF\xFE b", PretokenizerKind::kGpt2) == Parts{"a", "\xFF\xFE", " b"});
}

#include <unistd.h>

#include <filesystem>
#include <fstream>

TEST_CASE("tokenizer.json with a Llama 3 Split pre-tokenizer and lstrip added tokens") {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("hl_tokenizer_llama3_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  nlohmann::json j;
  j["model"]["type"] = "BPE";
  {
    std::ifstream in(fs::path(HEADLIGHT_SHARED_DIR) / "fixtures" / "tokenizers" / "gpt2" / "vocab.json");
    const auto gpt2 = nlohmann::json::parse(in);
    j["model"]["vocab"] = nlohmann::json::object();
    for (auto it = gpt2.begin(); it != gpt2.end(); ++it)
      if (it.value().get<int64_t>() < 256) j["model"]["vocab"][it.key()] = it.value();
  }
  j["model"]["vocab"]["Hi"] = 259;
  j["model"]["merges"] = nlohmann::json::array({"H i"});
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern", {{"Regex", hl::tok::pretokenizer_pattern(PretokenizerKind::kLlama3)}}},
         {"behavior", "Isolated"}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  j["added_tokens"] = {{{"id", 256}, {"content", "<|begin_of_text|>"}, {"special", true}},
                       {{"id", 257}, {"content", "<|eot_id|>"}, {"special", true}, {"lstrip", true}},
                       {{"id", 258}, {"content", "<|end_of_text|>"}, {"special", true}}};
  std::ofstream(dir / "tokenizer.json") << j.dump();
  const auto tok = hl::load_tokenizer(dir);
  fs::remove_all(dir);

  CHECK(tok->bos_id() == 256);
  CHECK(tok->eos_id() == 258);
  CHECK(tok->vocab_size() == 260);
  const std::string text = "<|begin_of_text|>Hi 1234 <|eot_id|>";
  const auto enc = tok->encode(text);
  // "Hi", then the Llama 3 number rule splits 1234 into "123" + "4" (bytes '1','2','3' stay separate
  // tokens without merges); the lstrip token absorbs the space before it.
  CHECK(enc.ids == std::vector<int64_t>{256, 259, 220, 16, 17, 18, 19, 257});
  CHECK(enc.byte_offsets.back() == std::pair<int64_t, int64_t>(24, 35));
  CHECK(tok->decode(enc.ids, true) == "Hi 1234");
}
