// Shared helpers for the run store tests: a scratch directory per test and file fingerprints.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "storage/content_hash.h"
#include "storage/store.h"
#include "tests/scratch_dir.h"

namespace store_test {

// A fresh directory under the system temp dir, removed (with its contents) at scope exit.
using ScratchDir = hl_test::ScratchDir;

// A NIAH cell with the schema-v1 fields set and the v2 ones (realised depth, rollout, answer, curve) empty.
inline hl::store::NiahCell v1_cell(double strength, int64_t context_length, double depth_percent, int64_t n_samples,
                                   double mean_score, std::optional<double> mean_influence) {
  hl::store::NiahCell c;
  c.strength = strength;
  c.context_length = context_length;
  c.depth_percent = depth_percent;
  c.n_samples = n_samples;
  c.mean_score = mean_score;
  c.mean_influence = mean_influence;
  return c;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline std::string fingerprint(const std::string& path) {
  const std::string b = read_bytes(path);
  return hl::store::content_hash(b) + ":" + std::to_string(b.size());
}

inline int64_t add_model(hl::store::Store& s, const std::string& path = "/models/tiny") {
  hl::store::ModelRecord m;
  m.path = path;
  m.config_hash = "cfg0001";
  m.architecture = "LlamaForCausalLM";
  m.n_layers = 30;
  m.n_heads = 9;
  m.n_kv_heads = 3;
  m.hidden_size = 576;
  m.vocab_size = 49152;
  return s.record_model(m);
}

}  // namespace store_test
