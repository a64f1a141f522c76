// Limits a hostile file cannot exceed (issue 8): JSON nesting at every JSON entry point, and sizes a
// header declares but the file does not hold.
#include <doctest/doctest.h>

#include <string>

#include "core/steering/head_config.h"
#include "core/json_limits.h"
#include "core/formats/llama2c_header.h"
#include "core/formats/model_config.h"
#include "core/formats/safetensors.h"
#include "core/formats/safetensors_index.h"
#include "core/steering/steering_spec.h"
#include "core/tokenizers/tokenizer.h"
#include "unit/test_hostile_support.h"

namespace {

using hostile::error_of;

// A million levels: enough to overflow the stack of any recursive descent.
const std::string& million_deep() {
  static const std::string s = std::string(1000000, '[') + std::string(1000000, ']');
  return s;
}

bool names(const std::string& msg, const std::string& file) {
  return msg.find(file) != std::string::npos && msg.find("nests deeper than 128 levels") != std::string::npos;
}

}  // namespace

TEST_CASE("json limits: the depth scan counts brackets outside strings only") {
  CHECK_NOTHROW(hl::check_json_depth(std::string(128, '[') + std::string(128, ']'), "x"));
  CHECK_THROWS_WITH_AS(hl::check_json_depth(std::string(129, '{'), "x.json"),
                       "x.json: JSON nests deeper than 128 levels", hl::Error);
  // Brackets in strings, including after an escaped quote, are text.
  CHECK_NOTHROW(hl::check_json_depth("[\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"]", "x"));
  // Sequential (not nested) containers never add up.
  std::string wide = "[";
  for (int i = 0; i < 10000; ++i) wide += "[[]],";
  wide += "[]]";
  CHECK(hl::parse_json_bounded(wide, "wide").size() == 10001);
  CHECK_THROWS_WITH_AS(hl::parse_json_bounded("[1,", "t.json"), doctest::Contains("t.json: not valid JSON"), hl::Error);
}

TEST_CASE("json limits: a million-deep document is refused at every JSON entry point") {
  const std::string& deep = million_deep();
  CHECK(names(error_of([&] { hl::parse_model_config(deep, "config.json"); }), "config.json"));
  CHECK(names(error_of([&] { hl::parse_steering_spec(deep, "spec.json"); }), "spec.json"));
  CHECK(names(error_of([&] { hl::parse_head_set_text(deep, "heads.json"); }), "heads.json"));
  CHECK(names(error_of([&] { hl::parse_safetensors_index(deep, "model.safetensors.index.json"); }),
              "model.safetensors.index.json"));
  std::vector<hl::TensorInfo> tensors;
  CHECK(names(error_of([&] { hl::parse_safetensors_header(deep, 0, "w.safetensors", &tensors, nullptr); }),
              "w.safetensors"));

  hostile::Scratch dir("deep");
  CHECK(names(error_of([&] { hl::SafetensorsFile f(dir.write("deep.safetensors", hostile::safetensors_bytes(deep))); }),
              "deep.safetensors"));
  CHECK(names(error_of([&] { hl::load_tokenizer(dir.write("tokenizer.json", deep)); }), "tokenizer.json"));

  // tokenizer_config.json beside an otherwise valid tokenizer (byte-level BPE and SentencePiece both read it).
  hostile::Scratch bpe("deep_cfg");
  bpe.write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                                  "pre_tokenizer": {"type": "ByteLevel"}})");
  bpe.write("tokenizer_config.json", deep);
  CHECK(names(error_of([&] { hl::load_tokenizer(bpe.dir / "tokenizer.json"); }), "tokenizer_config.json"));
  const std::string spm_model = std::string(HEADLIGHT_SHARED_DIR) + "/fixtures/tokenizers/tok512/tokenizer.model";
  REQUIRE(std::filesystem::exists(spm_model));
  hostile::Scratch spm("deep_spm");
  std::filesystem::copy_file(spm_model, spm.dir / "tokenizer.model");
  spm.write("tokenizer_config.json", deep);
  CHECK(names(error_of([&] { hl::load_tokenizer(spm.dir / "tokenizer.model"); }), "tokenizer_config.json"));
}

TEST_CASE("hostile sizes: a llama2.c header describing more than 2^64 bytes is refused, not wrapped") {
  // This header describes exactly 2^62 floats: 2^64 bytes of weights. The old 64-bit size computation
  // wrapped to 28 bytes, so a 28-byte file passed the "truncated" check and the loader then read weights
  // far past its mapping.
  std::string h;
  for (int32_t v : {1 << 20, 1 << 20, 599186, 1, 1, 898778, 1}) h += hostile::le32(v);
  const std::string msg = error_of([&] {
    hl::parse_llama2c_header(reinterpret_cast<const uint8_t*>(h.data()), h.size(), "wrap.bin");
  });
  CHECK(msg == "wrap.bin: file has 28 bytes but the header describes 18446744073709551644 (truncated, or not a "
               "llama2.c v0 checkpoint)");
  // Every field at its 2^20 maximum (~3.2e19 bytes), even on a (sparse) file of 2^62 bytes.
  std::string max;
  for (int i = 0; i < 7; ++i) max += hostile::le32(1 << 20);
  CHECK_THROWS_WITH_AS(
      hl::parse_llama2c_header(reinterpret_cast<const uint8_t*>(max.data()), uint64_t(1) << 62, "huge.bin"),
      doctest::Contains("truncated"), hl::Error);
}

TEST_CASE("hostile sizes: a valid llama2.c header reports the exact size it needs") {
  // stories-like: dim 8, hidden 16, 1 layer, 2 heads, 2 kv heads, vocab 32 (tied), seq_len 4.
  std::string h;
  for (int32_t v : {8, 16, 1, 2, 2, 32, 4}) h += hostile::le32(v);
  const uint64_t floats = 32 * 8 + 8 + 8 * 8 + 2 * 8 * 8 + 8 * 8 + 8 + 3 * 16 * 8 + 8 + 4 * 4;
  const auto ok = hl::parse_llama2c_header(reinterpret_cast<const uint8_t*>(h.data()), 28 + 4 * floats, "ok.bin");
  CHECK(ok.weight_floats == floats);
  CHECK(ok.file_bytes == 28 + 4 * floats);
  CHECK(ok.config.head_dim == 4);
  CHECK(ok.config.tie_word_embeddings);
  CHECK_THROWS_WITH_AS(
      hl::parse_llama2c_header(reinterpret_cast<const uint8_t*>(h.data()), 28 + 4 * floats - 1, "short.bin"),
      doctest::Contains("truncated"), hl::Error);
}

TEST_CASE("hostile sizes: huge declared safetensors tensors and tokenizer records are refused") {
  hostile::Scratch dir("sizes");
  // A header declaring a 2^40-element tensor in a 16-byte data section.
  const std::string big = R"({"w": {"dtype": "F32", "shape": [1099511627776], "data_offsets": [0, 4398046511104]}})";
  CHECK_THROWS_WITH_AS(hl::SafetensorsFile(dir.write("big.safetensors", hostile::safetensors_bytes(big, 16))),
                       doctest::Contains("run past the end of the file"), hl::Error);
  // Just over the 100 MB header limit, declared in an 8-byte file.
  CHECK_THROWS_WITH_AS(
      hl::SafetensorsFile(dir.write("hdr.safetensors", hostile::le64(hl::kMaxSafetensorsHeader + 1))),
      doctest::Contains("exceeds the 100 MB limit"), hl::Error);
  // tokenizer.bin declaring a 2 GiB token and a max_token_length of 2^31-1.
  CHECK_THROWS_WITH_AS(hl::load_tokenizer(dir.write("tokenizer.bin", hostile::le32(0x7fffffff))),
                       doctest::Contains("max_token_length"), hl::Error);
  std::string rec = hostile::le32(16) + std::string(4, '\0') + hostile::le32(0x7fffffff);
  CHECK_THROWS_WITH_AS(hl::load_tokenizer(dir.write("t2.bin", rec)), doctest::Contains("exceeds max_token_length"),
                       hl::Error);
}
