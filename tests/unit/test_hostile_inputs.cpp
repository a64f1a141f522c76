// Malformed files of every kind headlight reads from users (issue 8): each one refused with an hl::Error
// that names the file and the field at fault. One table, one row per hostile input.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "analysis/niah.h"
#include "analysis/prompt_markers.h"
#include "core/steering/head_config.h"
#include "core/formats/llama2c_header.h"
#include "core/formats/model_config.h"
#include "core/formats/safetensors.h"
#include "core/formats/safetensors_index.h"
#include "core/steering/steering_spec.h"
#include "core/tokenizers/tokenizer.h"
#include "unit/test_hostile_support.h"

namespace {

using hostile::error_of;
using hostile::le32;
using hostile::safetensors_bytes;

enum class Parser {
  SafetensorsFile,  // written to hostile.safetensors, opened with SafetensorsFile
  ModelConfig,      // parse_model_config(text, "config.json")
  Index,            // parse_safetensors_index(text, "model.safetensors.index.json")
  Llama2cHeader,    // parse_llama2c_header over the bytes, file size = their length
  TokenizerJson,    // written to tokenizer.json, load_tokenizer
  TokenizerBin,     // written to tokenizer.bin, load_tokenizer
  TokenizerModel,   // written to tokenizer.model, load_tokenizer (SentencePiece module)
  HeadConfig,       // parse_head_set_text(text, "heads.json")
  SteeringSpec,     // parse_steering_spec(text, "spec.json")
  PromptMarkers,    // parse_prompt_markers(text)
  NiahJournal,      // written to niah.csv, opened as a NiahJournal
};

struct HostileCase {
  std::string label;
  Parser parser;
  std::string input;
  std::vector<std::string> expect;  // substrings of the error: the file, then the field / problem
};

std::string llama2c_header(std::vector<int32_t> fields) {
  std::string s;
  for (int32_t v : fields) s += le32(v);
  return s;
}

std::string tokenizer_bin(int32_t max_len, const std::vector<std::pair<int32_t, std::string>>& tokens) {
  std::string s = le32(max_len);
  for (const auto& [len, bytes] : tokens) s += std::string(4, '\0') + le32(len) + bytes;
  return s;
}

std::string bpe_json(const std::string& model, const std::string& rest = "") {
  return R"({"model": )" + model + R"(, "pre_tokenizer": {"type": "ByteLevel"})" + rest + "}";
}

const std::string kNiahHeader = std::string(hl::kNiahCsvHeader) + "\n";

std::vector<HostileCase> cases() {
  const std::string w1 = R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})";
  std::string deep_metadata = R"({"__metadata__": )" + std::string(200, '[') + std::string(200, ']') + "}";
  return {
      // ---- safetensors
      {"empty safetensors file", Parser::SafetensorsFile, "", {"hostile.safetensors", "too short"}},
      {"header length over 100 MB", Parser::SafetensorsFile, hostile::le64(uint64_t(1) << 40) + "{}",
       {"hostile.safetensors", "header length", "100 MB limit"}},
      {"header length past end of file", Parser::SafetensorsFile, hostile::le64(64) + "{}",
       {"hostile.safetensors", "header length 64", "larger than the file"}},
      {"header not JSON", Parser::SafetensorsFile, safetensors_bytes("{not json"),
       {"hostile.safetensors", "header is not valid JSON"}},
      {"header is a list", Parser::SafetensorsFile, safetensors_bytes("[1, 2]"),
       {"hostile.safetensors", "not a JSON object"}},
      {"tensor without dtype", Parser::SafetensorsFile,
       safetensors_bytes(R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", 8),
       {"hostile.safetensors", "tensor \"w\"", "\"dtype\""}},
      {"unknown dtype", Parser::SafetensorsFile,
       safetensors_bytes(R"({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}})", 2),
       {"hostile.safetensors", "tensor \"w\"", "unsupported dtype \"F8_E4M3\""}},
      {"negative shape", Parser::SafetensorsFile,
       safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 8),
       {"hostile.safetensors", "tensor \"w\"", "shape entries must be non-negative"}},
      {"offsets past the data", Parser::SafetensorsFile, safetensors_bytes(w1, 4),
       {"hostile.safetensors", "tensor \"w\"", "data_offsets [0, 8)", "truncated"}},
      {"size inconsistent with shape", Parser::SafetensorsFile,
       safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8),
       {"hostile.safetensors", "tensor \"w\"", "does not match shape x dtype (3 x 4)"}},
      {"end before begin", Parser::SafetensorsFile,
       safetensors_bytes(R"({"w": {"dtype": "U8", "shape": [0], "data_offsets": [8, 0]}})", 8),
       {"hostile.safetensors", "tensor \"w\"", "end < begin"}},
      {"overlapping tensors", Parser::SafetensorsFile,
       safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                             "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12),
       {"hostile.safetensors", "\"a\" and \"b\" overlap"}},
      {"shape product overflows", Parser::SafetensorsFile,
       safetensors_bytes(R"({"w": {"dtype": "F64", "shape": [1099511627776, 1099511627776], "data_offsets": [0, 8]}})", 8),
       {"hostile.safetensors", "tensor \"w\"", "shape is too large"}},
      {"17-dimensional shape", Parser::SafetensorsFile,
       safetensors_bytes(R"({"w": {"dtype": "U8", "shape": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1], "data_offsets": [0, 1]}})", 1),
       {"hostile.safetensors", "tensor \"w\"", "more than 16 dimensions"}},
      {"header nested 200 deep", Parser::SafetensorsFile, safetensors_bytes(deep_metadata),
       {"hostile.safetensors", "header", "nests deeper than 128"}},

      // ---- config.json
      {"config not JSON", Parser::ModelConfig, "{\"model_type\": ", {"config.json", "not valid JSON"}},
      {"config without model_type", Parser::ModelConfig, R"({"hidden_size": 64})", {"config.json", "\"model_type\""}},
      {"config of an unsupported family", Parser::ModelConfig, R"({"model_type": "bert"})",
       {"config.json", "unsupported model_type \"bert\"", "llama"}},
      {"hidden_size as a string", Parser::ModelConfig,
       R"({"model_type": "llama", "hidden_size": "64", "num_hidden_layers": 2, "num_attention_heads": 4,
           "intermediate_size": 128, "vocab_size": 32})",
       {"config.json", "\"hidden_size\" must be an integer"}},
      {"hidden_size beyond 2^31", Parser::ModelConfig,
       R"({"model_type": "gpt2", "n_embd": 4294967296, "n_layer": 2, "n_head": 4, "vocab_size": 32, "n_positions": 8})",
       {"config.json", "\"n_embd\" is out of range"}},
      {"heads not a multiple of kv heads", Parser::ModelConfig,
       R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
           "num_key_value_heads": 3, "intermediate_size": 128, "vocab_size": 32})",
       {"config.json", "num_attention_heads (4)", "num_key_value_heads (3)"}},
      {"rope_scaling type not a string", Parser::ModelConfig,
       R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
           "intermediate_size": 128, "vocab_size": 32, "rope_scaling": {"rope_type": 5, "factor": 2}})",
       {"config.json", "\"rope_scaling\"", "\"rope_type\" must be a string"}},
      {"rotary_pct out of range", Parser::ModelConfig,
       R"({"model_type": "gpt_neox", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
           "intermediate_size": 128, "vocab_size": 32, "rotary_pct": 2})",
       {"config.json", "\"rotary_pct\""}},

      // ---- model.safetensors.index.json
      {"index without weight_map", Parser::Index, R"({"metadata": {}})",
       {"model.safetensors.index.json", "\"weight_map\""}},
      {"index shard outside the model dir", Parser::Index, R"({"weight_map": {"w": "../../evil.safetensors"}})",
       {"model.safetensors.index.json", "\"../../evil.safetensors\"", "plain file name"}},
      {"index shard as an absolute path", Parser::Index, R"({"weight_map": {"w": "/etc/passwd"}})",
       {"model.safetensors.index.json", "\"/etc/passwd\"", "plain file name"}},
      {"index entry not a string", Parser::Index, R"({"weight_map": {"w": 3}})",
       {"model.safetensors.index.json", "entry \"w\" is not a file name"}},
      {"index with an empty weight_map", Parser::Index, R"({"weight_map": {}})",
       {"model.safetensors.index.json", "weight_map is empty"}},

      // ---- llama2.c checkpoint header
      {"llama2c file shorter than the header", Parser::Llama2cHeader, "abc", {"hostile.bin", "too short"}},
      {"llama2c dim = 0", Parser::Llama2cHeader, llama2c_header({0, 8, 1, 1, 1, 32, 8}),
       {"hostile.bin", "header field dim = 0 is out of range"}},
      {"llama2c seq_len beyond 2^20", Parser::Llama2cHeader, llama2c_header({8, 8, 1, 1, 1, 32, 1 << 21}),
       {"hostile.bin", "header field seq_len"}},
      {"llama2c dim not a multiple of n_heads", Parser::Llama2cHeader, llama2c_header({10, 8, 1, 4, 4, 32, 8}),
       {"hostile.bin", "dim must be a multiple of n_heads"}},
      {"llama2c header with no weights", Parser::Llama2cHeader, llama2c_header({8, 8, 1, 1, 1, 32, 8}),
       {"hostile.bin", "file has 28 bytes", "truncated"}},

      // ---- tokenizer.json
      {"tokenizer.json not JSON", Parser::TokenizerJson, "{\"model\"", {"tokenizer.json", "not valid JSON"}},
      {"tokenizer.json WordPiece", Parser::TokenizerJson, bpe_json(R"({"type": "WordPiece", "vocab": {}, "merges": []})"),
       {"tokenizer.json", "model.type", "expected BPE"}},
      {"tokenizer.json vocab id a string", Parser::TokenizerJson,
       bpe_json(R"({"type": "BPE", "vocab": {"a": "0"}, "merges": []})"), {"tokenizer.json", "model.vocab['a']"}},
      {"tokenizer.json merge of three tokens", Parser::TokenizerJson,
       bpe_json(R"({"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c"]})"), {"tokenizer.json", "model.merges[0]"}},
      {"tokenizer.json added token without id", Parser::TokenizerJson,
       bpe_json(R"({"type": "BPE", "vocab": {"a": 0}, "merges": []})", R"(, "added_tokens": [{"content": "<s>"}])"),
       {"tokenizer.json", "added_tokens[0]", "'id'"}},
      {"tokenizer.json WordPiece pre-tokenizer", Parser::TokenizerJson,
       R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "BertPreTokenizer"}})",
       {"tokenizer.json", "pre_tokenizer", "'BertPreTokenizer'"}},

      // ---- tokenizer.bin (llama2.c)
      {"tokenizer.bin max_token_length 0", Parser::TokenizerBin, le32(0), {"tokenizer.bin", "max_token_length 0"}},
      {"tokenizer.bin negative token length", Parser::TokenizerBin, tokenizer_bin(8, {{-1, ""}}),
       {"tokenizer.bin", "token 0", "length -1"}},
      {"tokenizer.bin token cut short", Parser::TokenizerBin, tokenizer_bin(8, {{6, "abc"}}),
       {"tokenizer.bin", "token 0", "truncated in token bytes"}},
      {"tokenizer.bin with too few tokens", Parser::TokenizerBin, tokenizer_bin(8, {{1, "a"}, {1, "b"}}),
       {"tokenizer.bin", "only 2 tokens"}},

      // ---- tokenizer.model (SentencePiece)
      {"tokenizer.model not a protobuf", Parser::TokenizerModel, std::string("\x0a\xff\xff\xff\xff\x0f", 6),
       {"tokenizer.model"}},

      // ---- head configs
      {"head config layer key not a number", Parser::HeadConfig, R"({"x": [1]})", {"heads.json", "\"x\""}},
      {"head config negative head", Parser::HeadConfig, R"({"0": [-1]})", {"heads.json", "-1"}},
      {"head config duplicate head", Parser::HeadConfig, R"({"0": [1, 1]})", {"heads.json", "1"}},
      {"head config malformed JSON", Parser::HeadConfig, R"({"0": [1)", {"heads.json", "malformed JSON"}},

      // ---- steering specs
      {"spec with an unknown method", Parser::SteeringSpec, R"({"method": "rome"})", {"spec.json", "method"}},
      {"spec with an unknown field", Parser::SteeringSpec, R"({"method": "guide", "dleta": 1})", {"spec.json", "dleta"}},
      {"spec alpha <= 0", Parser::SteeringSpec, R"({"method": "pasta", "heads": "all", "alpha": 0})",
       {"spec.json", "alpha"}},
      {"spec reversed span", Parser::SteeringSpec, R"({"method": "guide", "spans": [[5, 2]]})", {"spec.json", "spans"}},
      {"spec span bounds as strings", Parser::SteeringSpec, R"({"method": "guide", "spans": [["a", "b"]]})",
       {"spec.json", "spans"}},

      // ---- prompt markers
      {"unclosed emphasis", Parser::PromptMarkers, "the **key fact", {"prompt markers", "at byte 4"}},
      {"mismatched GUIDE tags", Parser::PromptMarkers, "a <!-> b <-!!> c", {"prompt markers", "byte"}},

      // ---- NIAH journal
      {"NIAH journal with a foreign header", Parser::NiahJournal, "a,b,c\n1,2,3\n", {"niah.csv", "line 1"}},
      {"NIAH journal with a bad record mid-file", Parser::NiahJournal,
       kNiahHeader + "500,50,50,0,1,,,ok\nnot,a,record\n500,60,60,0,1,,,ok\n", {"niah.csv", "line 3"}},
      // Found by fuzz_niah_journal: the length was cast to int64 unchecked (UBSan: 1e+106 out of range).
      {"NIAH journal with a length past int64", Parser::NiahJournal,
       kNiahHeader + std::string(107, '9') + ",50,50,0,1,,,ok\n500,60,60,0,1,,,ok\n", {"niah.csv", "line 2"}},
  };
}

std::string run_case(const HostileCase& c, const hostile::Scratch& dir) {
  switch (c.parser) {
    case Parser::SafetensorsFile:
      return error_of([&] { hl::SafetensorsFile f(dir.write("hostile.safetensors", c.input)); });
    case Parser::ModelConfig:
      return error_of([&] { hl::parse_model_config(c.input, "config.json"); });
    case Parser::Index:
      return error_of([&] { hl::parse_safetensors_index(c.input, "model.safetensors.index.json"); });
    case Parser::Llama2cHeader:
      return error_of([&] {
        hl::parse_llama2c_header(reinterpret_cast<const uint8_t*>(c.input.data()), c.input.size(), "hostile.bin");
      });
    case Parser::TokenizerJson:
      return error_of([&] { hl::load_tokenizer(dir.write("tokenizer.json", c.input)); });
    case Parser::TokenizerBin:
      return error_of([&] { hl::load_tokenizer(dir.write("tokenizer.bin", c.input)); });
    case Parser::TokenizerModel: {
      hl::TokenizerOptions opt;
      opt.spm_module_dir = std::filesystem::path(HEADLIGHT_BINARY_DIR) / "lib";
      return error_of([&] { hl::load_tokenizer(dir.write("tokenizer.model", c.input), opt); });
    }
    case Parser::HeadConfig:
      return error_of([&] { hl::parse_head_set_text(c.input, "heads.json"); });
    case Parser::SteeringSpec:
      return error_of([&] { hl::parse_steering_spec(c.input, "spec.json"); });
    case Parser::PromptMarkers:
      return error_of([&] { hl::parse_prompt_markers(c.input); });
    case Parser::NiahJournal:
      return error_of([&] { hl::NiahJournal j(dir.write("niah.csv", c.input)); });
  }
  return "<unknown parser>";
}

}  // namespace

TEST_CASE("hostile inputs: every malformed file is refused with an error naming the file and field") {
  const auto table = cases();
  CHECK(table.size() >= 30);
  hostile::Scratch dir("inputs");
  for (const auto& c : table) {
    CAPTURE(c.label);
    const std::string msg = run_case(c, dir);
    CAPTURE(msg);
    CHECK(msg != "<no error>");
    for (const auto& part : c.expect) CHECK_MESSAGE(msg.find(part) != std::string::npos, "missing: " << part);
  }
}
