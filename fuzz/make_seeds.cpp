// Seed-corpus generator for the fuzz targets. Reads the project's shared fixtures in place (never copies
// them into the repository) and writes small seeds under OUT/<target>/: real headers and configs as they
// are, large files cut down to what a fuzzer can iterate on quickly, and generated files for the formats
// the fixtures do not hold (run stores, NIAH journals, steering specs).
//   make_seeds SHARED_DIR OUT_DIR
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/niah.h"
#include "analysis/suite_builtin.h"
#include "analysis/task_file.h"
#include "core/error.h"
#include "core/formats/safetensors.h"
#include "storage/store.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path g_out;

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void seed(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = g_out / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// A flat name for a shared file ("fixtures/gpt2/config.json" -> "fixtures_gpt2_config.json").
std::string flat(const fs::path& shared, const fs::path& p) {
  std::string s = fs::relative(p, shared).string();
  for (char& c : s)
    if (c == '/') c = '_';
  return s;
}

std::vector<fs::path> files_named(const fs::path& root, const std::string& suffix) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); it != fs::recursive_directory_iterator(); ++it) {
    const std::string n = it->path().filename().string();
    if (it->is_regular_file() && n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void safetensors_seeds(const fs::path& shared) {
  std::set<std::string> seen_headers;
  for (const auto& p : files_named(shared, ".safetensors")) {
    const std::string bytes = read_all(p);
    if (bytes.size() < 8) continue;
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    if (n > 65536 || n > bytes.size() - 8) continue;
    const std::string header = bytes.substr(8, n);
    if (!seen_headers.insert(header).second) continue;
    seed("fuzz_safetensors_header", flat(shared, p), le64(bytes.size() - 8 - n) + header);
    // The index of a two-shard split of the same tensors.
    json index = {{"metadata", {{"total_size", bytes.size()}}}, {"weight_map", json::object()}};
    int i = 0;
    const json parsed = json::parse(header);
    for (const auto& [name, v] : parsed.items())
      if (name != "__metadata__")
        index["weight_map"][name] = (i++ % 2) ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors";
    seed("fuzz_safetensors_index", flat(shared, p) + ".index.json", index.dump(2));
  }
  // Whole files stay small: one of each dtype family, with metadata.
  const fs::path tmp = g_out / "tmp.safetensors";
  hl::SafetensorsWriter w;
  w.set_metadata("format", "pt");
  w.add_f32("model.norm.weight", {4}, {1, 2, 3, 4});
  w.add_i64("positions", {2, 2}, {0, 1, 2, 3});
  const uint16_t halves[3] = {0x3c00, 0x4000, 0xbc00};
  w.add("h", hl::DType::F16, {3}, halves, sizeof halves);
  const uint8_t flags[2] = {1, 0};
  w.add("mask", hl::DType::BOOL, {2}, flags, sizeof flags);
  w.write(tmp);
  seed("fuzz_safetensors_file", "mixed.safetensors", read_all(tmp));
  hl::SafetensorsWriter empty;
  empty.write(tmp);
  seed("fuzz_safetensors_file", "empty.safetensors", read_all(tmp));
  fs::remove(tmp);
}

void config_seeds(const fs::path& shared) {
  for (const auto& p : files_named(shared, "config.json"))
    if (p.filename() == "config.json") seed("fuzz_model_config", flat(shared, p), read_all(p));
}

void llama2c_seeds(const fs::path& shared) {
  for (const auto& p : files_named(shared, ".bin")) {
    const std::string bytes = read_all(p);
    const std::string name = p.filename().string();
    if (name.rfind("tok", 0) == 0) {
      seed("fuzz_tokenizer_llama2c", flat(shared, p), bytes);
    } else if (bytes.size() >= 28) {
      seed("fuzz_llama2c_header", flat(shared, p), bytes.substr(0, 28) + le64(bytes.size()));
    }
  }
}

// GPT-2's tokenizer.json is 1.3 MB; the seed keeps its structure with the 256 byte symbols, the merges
// among them and the first few hundred further tokens.
void tokenizer_json_seeds(const fs::path& shared) {
  for (const auto& p : files_named(shared, "tokenizer.json")) {
    json j = json::parse(read_all(p));
    if (!j.contains("model") || !j["model"].contains("vocab")) continue;
    json vocab = json::object();
    for (const auto& [tok, id] : j["model"]["vocab"].items())
      if (id.is_number_integer() && id.get<int64_t>() < 400) vocab[tok] = id;
    json merges = json::array();
    for (const auto& m : j["model"]["merges"]) {
      std::string a, b;
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos) continue;
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      }
      if (vocab.contains(a) && vocab.contains(b) && vocab.contains(a + b)) merges.push_back(m);
    }
    j["model"]["vocab"] = vocab;
    j["model"]["merges"] = merges;
    json added = json::array();
    for (const auto& a : j.value("added_tokens", json::array())) {
      json t = a;
      t["id"] = 400 + added.size();
      added.push_back(t);
    }
    j["added_tokens"] = added;
    seed("fuzz_tokenizer_json", flat(shared, p), j.dump(1));
    // The same vocabulary behind each Unicode normalizer (the normalisation and offset-tracing path).
    for (const char* form : {"NFC", "NFKD"}) {
      j["normalizer"] = {{"type", form}};
      seed("fuzz_tokenizer_json", flat(shared, p) + "_" + form, j.dump(1));
    }
  }
}

// A WordLevel tokenizer.json (the model organism's kind), with each pre-tokenizer it accepts.
void wordlevel_seeds() {
  json vocab = json::object();
  const char* words[] = {"<unk>", "<s>", "</s>", "the", "is", ".", "?", "zorano", "color", "teal", "café", "previously"};
  for (size_t i = 0; i < sizeof words / sizeof *words; ++i) vocab[words[i]] = static_cast<int64_t>(i);
  json added = json::array();
  for (int64_t i = 0; i < 3; ++i) added.push_back({{"id", i}, {"content", words[i]}, {"special", true}});
  for (const char* pre : {"Whitespace", "WhitespaceSplit"}) {
    const json j = {{"version", "1.0"}, {"added_tokens", added}, {"normalizer", nullptr},
                    {"pre_tokenizer", {{"type", pre}}}, {"decoder", nullptr},
                    {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "<unk>"}}}};
    seed("fuzz_tokenizer_json", std::string("wordlevel_") + pre, j.dump(1));
  }
}

void spm_seeds(const fs::path& shared) {
  for (const auto& p : files_named(shared, ".model"))
    if (fs::file_size(p) <= 64 * 1024) seed("fuzz_tokenizer_spm", flat(shared, p), read_all(p));
}

void head_config_seeds(const fs::path& shared) {
  int n = 0;
  for (const auto& p : files_named(shared / "data" / "pasta_head_configs", ".json"))
    if (fs::file_size(p) <= 16 * 1024 && n++ < 40) seed("fuzz_head_config", flat(shared, p), read_all(p));
  seed("fuzz_head_config", "names.txt", "L0H1, L2H3, L1");
  seed("fuzz_head_config", "all.txt", "all");
  seed("fuzz_head_config", "list.json", "[0, 2]");
  seed("fuzz_head_config", "quoted.json", "\"L3H1,L0H0\"");
}

void steering_spec_seeds() {
  const char* specs[] = {
      R"({"method": "pasta", "heads": {"1": [0, 2], "2": [1]}, "alpha": 0.01, "scale_position": "exclude", "spans": [[5, 12]], "apply_at": "all"})",
      R"({"method": "pasta", "heads": ["L0H1", "L2"], "alpha": 0.1, "scale_position": "include", "multispan": "union", "spans": [[1, 3], [6, 9]]})",
      R"({"method": "guide", "delta": 1.0, "layers": "all", "spans": [[5, 12, 2]], "apply_at": "prefill"})",
      R"({"method": "guide", "delta": -0.5, "layers": [0, 2], "emphasis": ["red ball"], "occurrence": 1, "span_match": "pasta"})",
      R"({"method": "instaboost", "multiplier": 2.718281828, "layers": "last", "emphasis": ["Answer in French"], "markers": false})",
      R"({"method": "none", "influence_span": [2, 4]})",
      R"({"method": "guide", "influence_span": "needle", "layers": "first"})",
  };
  int i = 0;
  for (const char* s : specs) seed("fuzz_steering_spec", "spec" + std::to_string(i++) + ".json", s);
}

void marker_seeds(const fs::path& shared) {
  const char* prompts[] = {
      "Once upon a time, **there was a little girl** named Lily.",
      "Answer <!!-> in French <-!!> and <!-> briefly <-!>, then <!!!-> stop <-!!!>.",
      "The key <?-> is under the mat <-?>. Where is the key?",
      "naïve **café** — 日本語 <!-> ünïcödé <-!>",
  };
  int i = 0;
  for (const char* s : prompts) seed("fuzz_prompt_markers", "p" + std::to_string(i++), std::string("\x03") + s);
  for (const auto& p : files_named(shared / "data" / "haystack", ".txt")) {
    seed("fuzz_prompt_markers", "essay", "\x03" + read_all(p).substr(0, 2048));
    break;
  }
}

void niah_seeds() {
  std::string csv = std::string(hl::kNiahCsvHeader) + "\n";
  hl::NiahResult r{500, 50, 49.5, 0, 1, 0.25, 0.125, "The best thing to do in San Francisco is \"eat\", then sleep", {}};
  csv += hl::niah_csv_row(r) + "\n";
  r.depth = 60;
  r.delta = 1;
  r.influence_lastk = std::numeric_limits<double>::quiet_NaN();
  r.answer = "multi\nline, answer";
  csv += hl::niah_csv_row(r) + "\n";
  seed("fuzz_niah_journal", "journal.csv", csv);
  seed("fuzz_niah_journal", "torn.csv", csv + "1000,10,9.8,0,0.5,");
}

void store_seed() {
  namespace st = hl::store;
  const std::string path = (g_out / "tmp.db").string();
  std::error_code ec;
  {
    st::Store s = st::Store::open(path);
    st::ModelRecord m;
    m.path = "/models/stories260K";
    m.config_hash = "seed";
    m.architecture = "llama2c";
    m.n_layers = 5;
    m.n_heads = 8;
    m.n_kv_heads = 4;
    m.hidden_size = 64;
    m.vocab_size = 512;
    st::RunRecord run;
    run.model_id = s.record_model(m);
    run.prompt_id = s.record_prompt({0, "Once upon a time", {1, 403, 407, 261}, {{0, 0}, {0, 4}, {4, 9}, {9, 16}}});
    run.spec_id = s.record_spec(R"({"method": "guide", "delta": 1.0, "spans": [[1, 3]]})");
    run.kind = "generate";
    const int64_t id = s.record_run(run, {{"steered", {1, 2, 3}, "a b c", {0.5f, 0.25f, 1.0f}}}, {{0, 1, "span_mass", 0.5}});
    s.finish_run(id, "done");
    st::FloatMatrix mat{2, 3, {0.1f, 0.2f, 0.7f, 0.3f, 0.3f, 0.4f}};
    s.add_attention_map(id, 0, 1, "prefill", mat, st::BlobDtype::F16);
    s.add_trace(id, "1:3", "influence", std::nullopt, mat, st::BlobDtype::F32);
    const int64_t job = s.create_profiling_job(id, R"({"tasks": ["counterfact"]})", 4);
    st::ProfilingUnit u;
    u.task = "counterfact";
    u.n_examples = 2;
    u.scores = {{"accuracy", 0.75}};
    s.record_unit(job, u);
    st::ExportedProfile prof;
    prof.job_id = job;
    prof.strategy = "union";
    prof.k = 1;
    prof.json = R"({"0": [0]})";
    s.record_exported_profile(prof);
    const int64_t sweep = s.create_niah_sweep(id, "guide", R"({"lengths": [256]})");
    s.record_niah_cell(sweep, {1.0, 256, 50.0, 1, 1.0, 0.25, std::nullopt, std::nullopt, "", {}});
    s.vacuum();
  }
  seed("fuzz_store", "populated.db", read_all(path));
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix, ec);
}

// Task JSONL: the first byte picks the kind (auto, counterfact, pair-qa); the rest is the file.
void task_seeds(const fs::path& shared) {
  auto head_lines = [](const std::string& text, int n) {
    size_t pos = 0;
    for (int i = 0; i < n && pos != std::string::npos; ++i) pos = text.find('\n', pos + 1);
    return pos == std::string::npos ? text : text.substr(0, pos + 1);
  };
  const std::string cf = read_all(shared / "data" / "counterfact" / "counterfact_rewrites.jsonl");
  const std::string qa = read_all(shared / "data" / "profiling" / "pair_qa_synthetic.jsonl");
  seed("fuzz_task_jsonl", "counterfact", std::string(1, '\0') + head_lines(cf, 40));
  seed("fuzz_task_jsonl", "counterfact_kind", std::string(1, '\1') + head_lines(cf, 5));
  seed("fuzz_task_jsonl", "pair_qa", std::string(1, '\0') + head_lines(qa, 10));
  seed("fuzz_task_jsonl", "pair_qa_kind", std::string(1, '\2') + head_lines(qa, 3));
  // Task suites: the converted shared files, and every scorer's record shape.
  const hl::TaskSuite cf_suite = hl::suite_from_counterfact(hl::parse_task_jsonl(head_lines(cf, 20), "cf"), "cf");
  const hl::TaskSuite qa_suite = hl::suite_from_pair_qa(hl::parse_task_jsonl(head_lines(qa, 5), "qa"), "qa");
  seed("fuzz_task_suite", "counterfact", hl::suite_to_jsonl(cf_suite));
  seed("fuzz_task_suite", "pair_qa", hl::suite_to_jsonl(qa_suite));
  seed("fuzz_task_suite", "labels",
       R"({"id": 1, "prompt": "Ann is a nurse.\nAnn works as a", "emphasis": "Ann is a nurse.", "target": "nurse", )"
       R"("labels": ["nurse", "dentist"], "gender": "f"})" "\n");
  seed("fuzz_task_suite", "spans", R"({"prompt": "a b c", "spans": [[2, 3]], "target": " c", "versus": " d"})" "\n");
  seed("fuzz_task_suite", "generation",
       R"({"prompt": "x\nSay it as json:", "emphasis": "Say it as json:", "target": "x", "scorer": "json_format"})" "\n"
       R"({"prompt": "y\nSay it as json:", "emphasis": "Say it as json:", "target": "y", "scorer": "json_format"})" "\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s SHARED_DIR OUT_DIR\n", argv[0]);
    return 2;
  }
  const fs::path shared = argv[1];
  g_out = argv[2];
  if (!fs::is_directory(shared)) {
    std::fprintf(stderr, "%s: not a directory\n", argv[1]);
    return 2;
  }
  try {
    fs::create_directories(g_out);
    safetensors_seeds(shared);
    config_seeds(shared);
    llama2c_seeds(shared);
    tokenizer_json_seeds(shared);
    wordlevel_seeds();
    spm_seeds(shared);
    head_config_seeds(shared);
    steering_spec_seeds();
    marker_seeds(shared);
    niah_seeds();
    store_seed();
    task_seeds(shared);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
