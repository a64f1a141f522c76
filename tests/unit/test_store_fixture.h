// Shared helpers for the run store tests: a scratch directory per test and file fingerprints.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "storage/content_hash.h"
#include "storage/store.h"
#include "tests/scratch_dir.h"

namespace store_test {

// A fresh directory under the system temp dir, removed (with its contents) at scope exit.
using ScratchDir = hl_test::ScratchDir;

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
