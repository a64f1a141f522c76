#include <ATen/ATen.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "core/engine/load.h"
#include "core/error.h"
#include "core/formats/llama2c_header.h"

namespace hl::engine {

std::pair<ModelConfig, ModelWeights> load_llama2c(const std::filesystem::path& file, at::ScalarType dtype, at::Device dev) {
  const std::string where = file.string();
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(where + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  ::fstat(fd, &st);
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < kLlama2cHeaderBytes) {
    ::close(fd);
    throw Error(where + ": too short for a llama2.c header");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw Error(where + ": mmap failed");
  struct Unmap {
    void* p;
    size_t n;
    ~Unmap() { ::munmap(p, n); }
  } unmap{map, size};

  const Llama2cHeader header = parse_llama2c_header(static_cast<const uint8_t*>(map), size, where);
  const ModelConfig& c = header.config;
  const int64_t D = c.hidden, I = c.intermediate, L = c.n_layers, V = c.vocab, KV = c.kv_dim(), hs = c.head_dim;

  const float* p = reinterpret_cast<const float*>(static_cast<const uint8_t*>(map) + kLlama2cHeaderBytes);
  auto take = [&](std::vector<int64_t> shape) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    at::Tensor t = at::from_blob(const_cast<float*>(p), shape, at::kFloat).to(dev, dtype, false, true);
    p += n;
    return t;
  };
  ModelWeights w;
  w.embed = take({V, D});
  at::Tensor rms_att = take({L, D}), wq = take({L, D, D}), wk = take({L, KV, D}), wv = take({L, KV, D}),
             wo = take({L, D, D}), rms_ffn = take({L, D}), w1 = take({L, I, D}), w2 = take({L, D, I}),
             w3 = take({L, I, D});
  w.final_norm_w = take({D});
  p += c.max_positions * hs;  // freq_cis_real and freq_cis_imag (seq_len * head_size / 2 each): recomputed
  w.lm_head_w = c.tie_word_embeddings ? w.embed : take({V, D});
  for (int64_t l = 0; l < L; ++l) {
    LayerWeights lw;
    lw.norm1_w = rms_att[l].contiguous();
    lw.norm2_w = rms_ffn[l].contiguous();
    lw.qkv_w = at::cat({wq[l], wk[l], wv[l]}).contiguous();
    lw.o_w = wo[l].contiguous();
    lw.up_w = at::cat({w1[l], w3[l]}).contiguous();  // gate (w1) | up (w3)
    lw.down_w = w2[l].contiguous();
    w.layers.push_back(std::move(lw));
  }
  return {c, std::move(w)};
}

}  // namespace hl::engine
