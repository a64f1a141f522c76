#include "core/formats/llama2c_header.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace hl {
namespace {

std::string u128_to_string(unsigned __int128 v) {
  if (v == 0) return "0";
  std::string s;
  for (; v; v /= 10) s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
  return s;
}

}  // namespace

Llama2cHeader parse_llama2c_header(const uint8_t* data, uint64_t file_size, const std::string& where) {
  if (file_size < kLlama2cHeaderBytes) throw Error(where + ": too short for a llama2.c header");
  int32_t h[7];
  std::memcpy(h, data, sizeof(h));
  const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i) {
    int64_t v = i == 5 ? std::abs(static_cast<int64_t>(h[i])) : h[i];
    if (v <= 0 || v > (1 << 20))
      throw Error(where + ": header field " + names[i] + " = " + std::to_string(h[i]) + " is out of range");
  }
  Llama2cHeader out;
  ModelConfig& c = out.config;
  c.model_type = "llama2c";
  c.hidden = h[0];
  c.intermediate = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.vocab = std::abs(static_cast<int64_t>(h[5]));
  c.tie_word_embeddings = h[5] > 0;
  c.max_positions = h[6];
  if (c.hidden % c.n_heads || c.n_heads % c.n_kv_heads)
    throw Error(where + ": dim must be a multiple of n_heads, and n_heads of n_kv_heads");
  c.head_dim = c.hidden / c.n_heads;
  c.norm = NormKind::RMSNorm;
  c.norm_eps = 1e-5;
  c.act = Activation::SiLU;
  c.mlp = MlpKind::Gated;
  c.block = BlockKind::Sequential;
  c.rope = RopeStyle::Interleaved;
  c.rotary_dim = c.head_dim;
  c.rope_theta = 10000;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  c.torch_dtype = "float32";

  // Every field is <= 2^20 and kv_dim <= dim, so the count stays below 2^63; the byte size (x4) may not
  // fit 64 bits, hence the 128-bit comparison (a wrapped size once let a hostile header pass the check).
  const uint64_t D = c.hidden, I = c.intermediate, L = c.n_layers, V = c.vocab, KV = c.kv_dim(), hs = c.head_dim;
  out.weight_floats = V * D + L * D + L * D * D + 2 * L * KV * D + L * D * D + L * D + 3 * L * I * D + D +
                      c.max_positions * hs + (c.tie_word_embeddings ? 0 : V * D);
  const unsigned __int128 need = kLlama2cHeaderBytes + static_cast<unsigned __int128>(out.weight_floats) * sizeof(float);
  if (file_size < need)
    throw Error(where + ": file has " + std::to_string(file_size) + " bytes but the header describes " +
                u128_to_string(need) + " (truncated, or not a llama2.c v0 checkpoint)");
  out.file_bytes = static_cast<uint64_t>(need);
  return out;
}

}  // namespace hl
