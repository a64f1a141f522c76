#include "bench/bench_util.h"

#include <ATen/Parallel.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>

#include "core/engine/small_linear.h"

namespace hl::bench {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Median of `reps` timed runs after `warm` untimed ones.
double time_median(const std::function<void()>& f, int reps, int warm) {
  for (int i = 0; i < warm; ++i) f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    f();
    t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Median over rounds of t(variant) / t(base), timing the two back to back in every round: slow drifts of
// this shared VM then cancel in each ratio. Returns {median base seconds, median ratio}.
std::pair<double, double> paired_ratio(const std::function<void()>& base, const std::function<void()>& variant,
                                       int rounds) {
  base();
  variant();
  std::vector<double> tb, ratio;
  for (int i = 0; i < rounds; ++i) {
    auto t0 = Clock::now();
    base();
    const double b = seconds_since(t0);
    t0 = Clock::now();
    variant();
    const double v = seconds_since(t0);
    tb.push_back(b);
    ratio.push_back(v / b);
  }
  std::sort(tb.begin(), tb.end());
  std::sort(ratio.begin(), ratio.end());
  return {tb[tb.size() / 2], ratio[ratio.size() / 2]};
}


std::pair<double, double> alternating_medians(const std::function<void()>& a, const std::function<void()>& b,
                                              int rounds) {
  a();
  b();
  std::vector<double> ta, tb;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = Clock::now();
    a();
    ta.push_back(seconds_since(t0));
    t0 = Clock::now();
    b();
    tb.push_back(seconds_since(t0));
  }
  std::sort(ta.begin(), ta.end());
  std::sort(tb.begin(), tb.end());
  return {ta[ta.size() / 2], tb[tb.size() / 2]};
}

// Best of several runs: a roofline is what the machine can do at its best.
double time_best(const std::function<void()>& f, int reps, int warm) {
  for (int i = 0; i < warm; ++i) f();
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    f();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

// Streaming read bandwidth (GB/s): the fastest of three readers over 256 MB.
double measure_bandwidth() {
  at::Tensor big = at::randn({64ll << 20});  // 256 MB, far past the caches
  const double bytes = static_cast<double>(big.numel()) * 4;
  // Two readers, the faster counts: ATen's sum, and a plain vectorised sum split over the intra-op threads
  // (ATen's reduction reached only ~60 % of what the threads can stream on some runs here).
  const double aten = bytes / time_best([&] { big.sum(); }, 7) / 1e9;
  const float* p = big.data_ptr<float>();
  const int64_t n = big.numel();
  volatile float sink = 0;
  const double own = bytes / time_best([&] {
    std::vector<float> part(256, 0.0f);
    at::parallel_for(0, 256, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        // 32 running sums: four independent vector chains, so the adds keep up with the loads.
        float acc[32] = {};
        const float* q = p + c * (n / 256);
        for (int64_t i = 0; i + 32 <= n / 256; i += 32) {
#pragma omp simd
          for (int j = 0; j < 32; ++j) acc[j] += q[i + j];
        }
        float s = 0;
        for (float a : acc) s += a;
        part[static_cast<size_t>(c)] = s;
      }
    });
    sink = sink + part[0];
  }, 7) / 1e9;
  // Third reader: the engine's one-row linear kernel over the same bytes (what a decode step does per matrix).
  const at::Tensor w = big.view({64 << 10, 1024}), x = at::randn({1, 1024});
  const double gemv = bytes / time_best([&] { engine::small_linear(x, w, at::Tensor()); }, 7) / 1e9;
  const double best = std::max({aten, own, gemv});
  if (std::getenv("HL_BENCH_DEBUG"))
    std::printf("read: aten %.1f GB/s, own %.1f GB/s, one-row linear %.1f GB/s\n", aten, own, gemv);
  return best;
}

// The machine's float32 GEMM speed at 2048^3 (GFLOP/s, best of `reps`), on the BLAS and on our packed kernel
// (where it applies: it can be the faster of the two, e.g. a BLAS without AVX-512 kernels for this CPU).
// The products write into one output allocated here: a fresh 16 MB output per call costs page faults on some heaps
// (a probe 5-10 % slow early in a process, whose rounds then flatter the interactive ratio).
GemmProbe::GemmProbe() : a_(at::randn({2048, 2048})), b_(at::randn({2048, 2048})), c_(at::zeros({2048, 2048})) {
  if (engine::PackedWeight::applies(b_))
    packed_ = std::make_unique<engine::PackedWeight>(
        engine::PackedWeight::pack(b_, engine::PackedWeight::Layout::Plain, "the GEMM probe"));
}

double GemmProbe::blas(int reps, int warm) {
  return kFlops / time_best([&] { at::mm_out(c_, a_, b_); }, reps, warm) / 1e9;
}

double GemmProbe::packed(int reps, int warm) {
  return packed_ ? kFlops / time_best([&] { engine::packed_linear_into(a_, *packed_, at::Tensor(), c_); }, reps, warm) / 1e9
                 : 0;
}

Machine measure_machine(GemmProbe& probe) {
  Machine m;
  m.blas_gflops = probe.blas(7, 2);
  m.packed_gflops = probe.packed(7, 2);
  m.gemm_gflops = std::max(m.blas_gflops, m.packed_gflops);
  m.read_gbs = measure_bandwidth();
  return m;
}

std::vector<int64_t> random_ids(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<int64_t>(r() % static_cast<uint64_t>(vocab - 3)) + 3;
  return v;
}

// Median of the runs, or (best = true) the best one: fractions of a roofline compare best with best, since
// the roofline itself is the machine's best of 7 and this shared VM's neighbours only ever slow a run down.
double time_stat(bool best, const std::function<void()>& f, int reps) {
  return best ? time_best(f, reps, 1) : time_median(f, reps);
}

// One prefill of ids ([1, T]) into a fresh cache; fo is held by reference.
std::function<void()> prefill_job(const Model& m, const at::Tensor& ids, const ForwardOptions& fo) {
  return [&m, ids, &fo] {
    KVCache c = m.new_cache(1, ids.size(1));
    m.forward(ids, c, fo);
  };
}

// Greedy generation of n tokens after ids (no stop at EOS), with an optional bias.
std::function<void()> generate_job(const Model& m, const std::vector<int64_t>& ids, int64_t n,
                                   const AttentionBias* bias) {
  return [&m, &ids, n, bias] {
    GenerateOptions go;
    go.max_new_tokens = n;
    go.stop_at_eos = false;
    go.bias = bias;
    generate(m, ids, go);
  };
}

double prefill_seconds(const Model& m, const std::vector<int64_t>& ids, const ForwardOptions& fo, int reps,
                       bool best) {
  return time_stat(best, prefill_job(m, at::tensor(ids, at::kLong).unsqueeze(0), fo), reps);
}

// Seconds per decoded token (n new tokens after a prefill of `ids`), excluding the prefill.
double decode_seconds_per_token(const Model& m, const std::vector<int64_t>& ids, int64_t n, const AttentionBias* bias,
                                AttentionObserver* obs, int reps, bool best) {
  GenerateOptions go;
  go.max_new_tokens = n;
  go.stop_at_eos = false;
  go.bias = bias;
  go.observer = obs;
  GenerateOptions one = go;
  one.max_new_tokens = 1;
  double full = time_stat(best, [&] { generate(m, ids, go); }, reps);
  double pre = time_stat(best, [&] { generate(m, ids, one); }, reps);
  return (full - pre) / static_cast<double>(n - 1);
}

// Every bias the bench runs comes from the steering compiler, as users' specs do.
AttentionBias compiled(const SteeringSpec& spec, const ModelConfig& c, int64_t T, int64_t span_begin, int64_t span_end) {
  return compile(spec, c.n_layers, c.n_heads, T, {SteeringSpan{span_begin, span_end, 1.0}});
}

// PASTA alpha = 0.01 on `heads` random heads, emphasising [T/4, T/2).
AttentionBias pasta_bias(const ModelConfig& c, int64_t T, int heads, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::set<std::pair<int64_t, int64_t>> chosen;
  while (static_cast<int>(chosen.size()) < heads)
    chosen.insert({static_cast<int64_t>(r() % c.n_layers), static_cast<int64_t>(r() % c.n_heads)});
  SteeringSpec spec;
  spec.method = SteeringMethod::Pasta;
  spec.alpha = 0.01;
  for (auto [l, h] : chosen) spec.heads.add(l, h);
  return compiled(spec, c, T, T / 4, T / 2);
}

// PASTA on head 0 of layers [lowest, L), emphasising the second half of the prompt: keys [0, T/2) get log alpha, so
// queries before T/2 see one constant bias and keep their unsteered states (what a re-run can reuse).
AttentionBias head0_pasta(const ModelConfig& c, int64_t T, int64_t lowest) {
  SteeringSpec spec;
  spec.method = SteeringMethod::Pasta;
  for (int64_t l = lowest; l < c.n_layers; ++l) spec.heads.add(l, 0);
  return compiled(spec, c, T, T / 2, T);
}

// GUIDE delta = 1 on every layer, on [T/4, T/2).
AttentionBias guide_bias(const ModelConfig& c, int64_t T) {
  SteeringSpec spec;
  spec.method = SteeringMethod::Guide;
  spec.delta = 1.0;
  return compiled(spec, c, T, T / 4, T / 2);
}

// FLOPs of the transformer layers (matmuls only) for the queries at positions [p0, T) of a T-token prompt when
// only the last position's logits are asked for: the projections of those positions and their causal attention
// over keys 0..q in every layer but the last, which projects keys and values for all of them and computes the
// rest for the last query only (what the forward does). `layers`: the top layers run (all by default).
double layer_flops(const ModelConfig& c, int64_t T, int64_t p0, int64_t layers) {
  const double D = static_cast<double>(c.hidden), I = static_cast<double>(c.intermediate);
  const double qkv = D * static_cast<double>(c.q_dim() + 2 * c.kv_dim()), o = static_cast<double>(c.q_dim()) * D;
  const double mlp = (c.mlp == MlpKind::Gated ? 3 : 2) * D * I;
  const double L = static_cast<double>(layers < 0 ? c.n_layers : layers), n = static_cast<double>(T - p0);
  const double keys = (static_cast<double>(T) * (T + 1) - static_cast<double>(p0) * (p0 + 1)) / 2.0;  // sum of q+1
  const double attn_per_key = 2.0 * 2 * static_cast<double>(c.n_heads * c.head_dim);
  const double full_layers = (L - 1) * (2 * (qkv + o + mlp) * n + attn_per_key * keys);
  const double last_layer = 2 * qkv * n + 2 * (o + mlp) + attn_per_key * static_cast<double>(T);
  return full_layers + last_layer;
}

// FLOPs of one prefill of T tokens (matmuls only; LM head for the last position).
double prefill_flops(const ModelConfig& c, int64_t T) {
  return layer_flops(c, T) + 2 * static_cast<double>(c.hidden) * static_cast<double>(c.vocab);
}

// Bytes of weights one decode step reads (every matrix once; embeddings: one row, LM head whole).
double decode_weight_bytes(const Model& m) {
  const ModelConfig& c = m.config();
  const double per_param = m.dtype() == at::kFloat ? 4 : 2;
  const double embed = static_cast<double>(c.vocab * c.hidden);
  double params = static_cast<double>(m.param_count());
  if (c.tie_word_embeddings) params += 0;  // the tied matrix is read once, as the LM head
  else params -= embed;                    // the embedding table: one row only
  // The projections as stored (16-bit panels of a bf16 checkpoint: 2 bytes each, padding columns included).
  const double proj_bytes = static_cast<double>(m.projection_bytes());
  params -= proj_bytes / (m.weight_storage() == "f32" ? 4 : 2);
  return params * per_param + proj_bytes;
}

long peak_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

void rule() { std::printf("%s\n", std::string(96, '-').c_str()); }

// A line of /proc/self/status in kB (VmHWM: the peak resident set, VmRSS: now), or -1.
long proc_status_kb(const char* key) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  const size_t n = std::strlen(key);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, key, n) == 0 && line[n] == ':') v = std::atol(line + n + 1);
  std::fclose(f);
  return v;
}

std::string load_average() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  char buf[64] = "?";
  if (f) {
    if (!std::fgets(buf, sizeof buf, f)) buf[0] = 0;
    std::fclose(f);
  }
  std::string s(buf);
  const size_t sp = s.find(' ', s.find(' ', s.find(' ') + 1) + 1);  // the 1, 5 and 15 minute averages
  return s.substr(0, sp);
}

}  // namespace hl::bench
