// The llama2.c checkpoint header (v0 "legacy" format, as karpathy's stories*.bin): 7 int32 fields
// (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means an
// untied classifier), then fp32 weights. Parsing and size validation live here, torch-free, so that the
// fuzz targets and unit tests reach them; core/engine/load_llama2c.cpp maps the weights.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/formats/model_config.h"

namespace hl {

inline constexpr size_t kLlama2cHeaderBytes = 7 * sizeof(int32_t);

struct Llama2cHeader {
  ModelConfig config;       // model_type "llama2c"
  uint64_t weight_floats = 0;  // fp32 values after the header that the header describes
  uint64_t file_bytes = 0;     // kLlama2cHeaderBytes + 4 * weight_floats: the least the file must hold
};

// Validates the header in the first bytes of a file of `file_size` bytes (`data` holds at least
// min(file_size, kLlama2cHeaderBytes) bytes). Throws hl::Error naming `where` and the field: a file too
// short for the header, a field <= 0 or > 2^20, dim not a multiple of n_heads (or n_heads of n_kv_heads),
// or a file shorter than the weights the header describes ("truncated").
Llama2cHeader parse_llama2c_header(const uint8_t* data, uint64_t file_size, const std::string& where);

}  // namespace hl
