// headlight-bench: speed and memory figures as ratios measured in one run on this machine.
//   headlight-bench [--model DIR] [--threads N] [--quick] [--sections forward,steer,heads,interactive,profiling,profile,roofline,memory,store,bf16,big] [--big-model DIR]
// Without --model it synthesises the smollm2-135m shape (random weights) into a temp dir.
// `headlight-bench influence-rss --model DIR --tokens N` is the child process of the memory section, `big-run
// --model DIR` the big section's.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "analysis/influence.h"
#include "app/cli/args.h"
#include "bench/bench_bf16.h"
#include "bench/bench_profile.h"
#include "core/engine/generate.h"
#include "core/engine/head_scan.h"
#include "core/engine/head_stats.h"
#include "core/engine/model.h"
#include "core/engine/packed_linear.h"
#include "core/engine/session.h"
#include "core/steering_spec.h"
#include "core/engine/small_linear.h"
#include "core/engine/synth.h"
#include "storage/store.h"

using namespace hl;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Median of `reps` timed runs after `warm` untimed ones.
double time_median(const std::function<void()>& f, int reps, int warm = 1) {
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

struct Machine {
  double gemm_gflops = 0;  // f32, 2048^3: the faster of the BLAS and our packed kernel
  double blas_gflops = 0, packed_gflops = 0;
  double read_gbs = 0;     // streaming read bandwidth
};

// Best of several runs: a roofline is what the machine can do at its best.
double time_best(const std::function<void()>& f, int reps, int warm = 2) {
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
class GemmProbe {
 public:
  // The products write into one output allocated here: a fresh 16 MB output per call costs page faults on some
  // heaps (a probe 5-10 % slow early in a process, whose rounds then flatter the interactive ratio).
  GemmProbe() : a_(at::randn({2048, 2048})), b_(at::randn({2048, 2048})), c_(at::zeros({2048, 2048})) {
    if (engine::PackedWeight::applies(b_))
      packed_ = std::make_unique<engine::PackedWeight>(
          engine::PackedWeight::pack(b_, engine::PackedWeight::Layout::Plain, "the GEMM probe"));
  }
  double blas(int reps, int warm) { return kFlops / time_best([&] { at::mm_out(c_, a_, b_); }, reps, warm) / 1e9; }
  double packed(int reps, int warm) {
    return packed_ ? kFlops / time_best([&] { engine::packed_linear_into(a_, *packed_, at::Tensor(), c_); }, reps, warm) / 1e9
                   : 0;
  }
  double best(int reps, int warm) { return std::max(blas(reps, warm), packed(reps, warm)); }

 private:
  static constexpr double kFlops = 2.0 * 2048 * 2048 * 2048;
  at::Tensor a_, b_, c_;
  std::unique_ptr<engine::PackedWeight> packed_;
};

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
                                   const AttentionBias* bias = nullptr) {
  return [&m, &ids, n, bias] {
    GenerateOptions go;
    go.max_new_tokens = n;
    go.stop_at_eos = false;
    go.bias = bias;
    generate(m, ids, go);
  };
}

double prefill_seconds(const Model& m, const std::vector<int64_t>& ids, const ForwardOptions& fo, int reps,
                       bool best = false) {
  return time_stat(best, prefill_job(m, at::tensor(ids, at::kLong).unsqueeze(0), fo), reps);
}

// Seconds per decoded token (n new tokens after a prefill of `ids`), excluding the prefill.
double decode_seconds_per_token(const Model& m, const std::vector<int64_t>& ids, int64_t n, const AttentionBias* bias,
                                AttentionObserver* obs, int reps, bool best = false) {
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
double layer_flops(const ModelConfig& c, int64_t T, int64_t p0 = 0, int64_t layers = -1) {
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

int influence_rss_child(const cli::Args& a) {
  set_compute_threads(static_cast<int>(a.get_int("threads", 0)));
  auto m = Model::load(a.get("model"));
  const int64_t T = a.get_int("tokens", 2048);
  auto ids = random_ids(T, m->config().vocab, 3);
  const long before = peak_rss_kb();
  InfluenceConfig ic;
  ic.indicator.assign(static_cast<size_t>(T), 0.0f);
  for (int64_t j = T / 4; j < T / 4 + 32; ++j) ic.indicator[static_cast<size_t>(j)] = 1.0f;
  InfluenceTracer tr(ic);
  KVCache c = m->new_cache(1, T);
  ForwardOptions fo;
  fo.observer = &tr;
  auto t0 = Clock::now();
  m->forward(at::tensor(ids, at::kLong).unsqueeze(0), c, fo);
  const double secs = seconds_since(t0);
  InfluenceTrace trace = tr.trace(0);
  std::printf("%ld %ld %.3f %.6f\n", before, peak_rss_kb(), secs, trace.influence_last_k_mean(5));
  return 0;
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

// `headlight-bench big-run --model DIR`: the big section's measurements, in a process of its own so that its peak
// RSS is the big model's load and nothing else.
int big_child(const cli::Args& a) {
  set_compute_threads(static_cast<int>(a.get_int("threads", 0)));
  const bool quick = a.has("quick");
  std::printf("load average before: %s\n", load_average().c_str());
  LoadOptions lo;
  lo.load_tokenizer = false;
  auto t0 = Clock::now();
  auto m = Model::load(a.get("model"), lo);
  const double load_s = seconds_since(t0);
  const double hwm = proc_status_kb("VmHWM") * 1024 / 1e9, rss = proc_status_kb("VmRSS") * 1024 / 1e9;
  const ModelConfig& c = m->config();
  const double packed = m->projection_bytes() / 1e9;
  std::printf("model %s: %s, %lld layers, hidden %lld, %.2f B params, projections %s %s (%.2f GB packed)\n",
              a.get("model").c_str(), c.model_type.c_str(), static_cast<long long>(c.n_layers),
              static_cast<long long>(c.hidden), m->param_count() / 1e9, m->weight_storage().c_str(),
              m->weights_packed() ? engine::packed_kernels() : "aten", packed);
  std::printf("%-44s %9.1f s\n", "load", load_s);
  std::printf("%-44s %9.2f GB   %.3fx the packed weights (target <= 15.5 GB, <= 1.15x); resident after: %.2f GB"
              " (GB = 1e9 bytes)\n",
              "peak RSS during load (VmHWM)", hwm, hwm / packed, rss);
  GemmProbe probe;
  const Machine mach = measure_machine(probe);
  std::printf("%-44s %9.1f GFLOP/s (BLAS %.1f, packed %.1f)\n", "machine: f32 GEMM 2048^3", mach.gemm_gflops,
              mach.blas_gflops, mach.packed_gflops);
  std::printf("%-44s %9.1f GB/s\n", "machine: streaming read", mach.read_gbs);
  for (int64_t T : {256, 1024}) {
    // Best of 2 (1 with --quick) after a warm-up at T=256; a T=1024 prefill runs minutes: no warm-up.
    const at::Tensor ids = at::tensor(random_ids(T, c.vocab, 40 + T), at::kLong).unsqueeze(0);
    const ForwardOptions plain;
    const double s = time_best(prefill_job(*m, ids, plain), quick || T > 256 ? 1 : 2, T > 256 ? 0 : 1);
    const double gf = prefill_flops(c, T) / s / 1e9;
    std::printf("prefill %-36lld %9.2f s   %.1f GFLOP/s = %.0f %% of the f32 GEMM bound (target >= 60 %%)\n",
                static_cast<long long>(T), s, gf, 100 * gf / mach.gemm_gflops);
  }
  {
    // Decode steps timed one by one after a 16-token prompt (best and median): a difference of two generations
    // of several seconds each drowns in this shared machine's noise.
    const int64_t n = quick ? 5 : 9;
    auto ids = random_ids(16, c.vocab, 41);
    KVCache cache = m->new_cache(1, 16 + n + 1);
    at::Tensor logits = m->forward(at::tensor(ids, at::kLong).unsqueeze(0), cache, {}).logits;
    std::vector<double> steps;
    for (int64_t i = 0; i < n; ++i) {
      const at::Tensor next = logits.select(1, -1).argmax(-1).view({1, 1});
      t0 = Clock::now();
      logits = m->forward(next, cache, {}).logits;
      steps.push_back(seconds_since(t0));
    }
    std::sort(steps.begin(), steps.end());
    const double dec = steps.front(), med = steps[steps.size() / 2];
    const double read_gbs = std::max(mach.read_gbs, measure_bandwidth());  // probed again, next to the decode
    const double bytes = decode_weight_bytes(*m), bound = bytes / 1e9 / read_gbs;
    std::printf("%-44s %9.1f ms   (median %.1f) %.2f GB a token at %.1f GB/s = %.0f %% of the bandwidth bound %.0f ms"
                " at %.1f GB/s (target >= 70 %%)\n",
                ("decode, per token (best of " + std::to_string(n) + ")").c_str(), dec * 1e3, med * 1e3, bytes / 1e9,
                bytes / dec / 1e9, 100 * bound / dec, bound * 1e3, read_gbs);
  }
  {
    // A PASTA change (head 0 of the top quarter of the layers, emphasising the prompt's second half)
    // re-run to its first steered token: the session recomputes the steered layers from the changed keys on.
    const int64_t T = 256, lowest = c.n_layers - std::max<int64_t>(1, c.n_layers / 4);
    auto ids = random_ids(T, c.vocab, 42);
    const AttentionBias b = head0_pasta(c, T, lowest);
    SteeringSession session(*m, ids, 1);
    GenerateOptions go;
    go.max_new_tokens = 1;
    go.bias = &b;
    session.steered(go);
    const double rerun = time_best([&] { session.steered(go); }, quick ? 1 : 2, 0);
    std::printf("%-44s %9.2f s   (T=%lld, layers %lld-%lld steered, positions from %lld)\n", "PASTA change re-run", rerun,
                static_cast<long long>(T), static_cast<long long>(lowest), static_cast<long long>(c.n_layers - 1),
                static_cast<long long>(session.last_resume_position()));
  }
  {
    // A small head scan: 8 heads of the top layer steered one at a time, over 2 prompts of 64 tokens.
    const int64_t T = 64, heads = std::min<int64_t>(8, c.n_heads), examples = 2;
    SteeringSpec spec;
    spec.method = SteeringMethod::Pasta;
    spec.alpha = 0.01;
    for (int64_t h = 0; h < heads; ++h) spec.heads.add(c.n_layers - 1, h);
    const AttentionBias cand = compiled(spec, c, T, T / 4, T / 2);
    t0 = Clock::now();
    for (int64_t e = 0; e < examples; ++e) scan_heads(*m, random_ids(T, c.vocab, 50 + e), cand);
    const double s = seconds_since(t0);
    std::printf("%-44s %9.2f heads*examples/s   (%lld heads of layer %lld x %lld prompts of %lld tokens, %.1f s)\n",
                "head scan", heads * examples / s, static_cast<long long>(heads), static_cast<long long>(c.n_layers - 1),
                static_cast<long long>(examples), static_cast<long long>(T), s);
  }
  std::printf("load average after: %s\n", load_average().c_str());
  return 0;
}

// The big section: a 7B-shape model in bf16 (--big-model DIR, or the llama-2-7b shape synthesised into a temp
// folder once), measured by a child process (big_child).
void big_section(const cli::Args& a, int threads, bool quick) {
  fs::path dir = a.get("big-model", "");
  if (dir.empty()) dir = fs::temp_directory_path() / "headlight-bench-llama-2-7b-bf16";
  if (!fs::exists(dir / "config.json")) {
    std::printf("big: writing a random-weight llama-2-7b shape in bf16 to %s ...\n", dir.c_str());
    std::fflush(stdout);
    SynthOptions so;
    so.like = "llama-2-7b";
    so.dtype = "bf16";
    const auto t0 = Clock::now();
    write_synthetic_model(so, dir);
    std::printf("big: written in %.0f s\n", seconds_since(t0));
  }
  std::fflush(stdout);
  const std::string cmd = std::string("'") + fs::canonical("/proc/self/exe").string() + "' big-run --model '" +
                          dir.string() + "'" + (threads ? " --threads " + std::to_string(threads) : "") +
                          (quick ? " --quick" : "");
  if (std::system(cmd.c_str()) != 0) std::printf("big: the measuring process failed\n");
  rule();
}


}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc > 1 && std::string(argv[1]) == "influence-rss") return influence_rss_child(cli::Args(argc, argv, 2));
    if (argc > 1 && std::string(argv[1]) == "big-run") return big_child(cli::Args(argc, argv, 2));
    cli::Args a(argc, argv, 1);
    if (a.has("help") || a.has("h") || (argc > 1 && std::string(argv[1]) == "-h")) {
      std::printf(
          "usage: headlight-bench [--sections LIST] [--model DIR] [--threads N] [--quick]\n\n"
          "Measures headlight against its rooflines and the Python reference stack's published figures, every ratio\n"
          "in one run (bench/README.md explains each section).\n\n"
          "  --sections LIST  comma-separated, default roofline,forward,steer,heads,interactive,profiling,profile,store,memory;\n"
          "                   also bf16 (bf16 vs float32 panels of the same weights), big (a 7B shape in bf16:\n"
          "                   load, peak RSS, prefill, decode, a PASTA re-run, a head scan; --big-model DIR, else\n"
          "                   a llama-2-7b shape synthesised into the temp folder, 13.5 GB)\n"
          "  --model DIR      an HF model (default: a SmolLM2-135M-shape synth model in the temp folder)\n"
          "  --big-model DIR  the big section's model (default: a llama-2-7b shape in bf16, synthesised once)\n"
          "  --threads N      compute threads (default 0 = one per core)\n"
          "  --quick          fewer repetitions\n");
      return 0;
    }
    for (const auto& p : a.positional()) throw Error("unexpected argument \"" + p + "\" (headlight-bench --help)");
    const int threads = static_cast<int>(a.get_int("threads", 0));
    set_compute_threads(threads);
    const bool quick = a.has("quick");
    const int reps = quick ? 3 : 5;
    std::set<std::string> sections;
    {
      std::string s = a.get("sections", "roofline,forward,steer,heads,interactive,profiling,profile,store,memory");
      size_t p = 0;
      while (p <= s.size()) {
        size_t q = s.find(',', p);
        sections.insert(s.substr(p, q == std::string::npos ? std::string::npos : q - p));
        if (q == std::string::npos) break;
        p = q + 1;
      }
    }
    if (sections.count("big")) {  // first, and alone in memory: it needs most of this machine's RAM
      big_section(a, threads, quick);
      sections.erase("big");
      if (sections.empty()) return 0;
    }
    fs::path model_dir = a.get("model", "");
    if (model_dir.empty()) {
      model_dir = fs::temp_directory_path() / "headlight-bench-smollm2-135m";
      if (!fs::exists(model_dir / "model.safetensors")) {
        SynthOptions so;
        so.like = "smollm2-135m";
        write_synthetic_model(so, model_dir);
      }
    }
    auto m = Model::load(model_dir);
    const ModelConfig& c = m->config();
    std::printf("headlight-bench  model %s (%s, %lld layers x %lld heads, %.1f M params)  threads %d  blas %s\n",
                model_dir.c_str(), c.model_type.c_str(), static_cast<long long>(c.n_layers), static_cast<long long>(c.n_heads),
                m->param_count() / 1e6, at::get_num_threads(), blas_backend().c_str());
    rule();

    Machine mach;
    std::optional<GemmProbe> probe;  // 2048^2 operands and a packed copy: only for the sections that use them
    if (sections.count("roofline") || sections.count("forward") || sections.count("interactive") ||
        sections.count("profiling")) {
      probe.emplace();
      mach = measure_machine(*probe);
      std::printf("roofline   GEMM 2048^3 f32: %.1f GFLOP/s (BLAS %.1f, packed kernel %.1f)   streaming read: %.1f GB/s\n",
                  mach.gemm_gflops, mach.blas_gflops, mach.packed_gflops, mach.read_gbs);
      rule();
    }

    if (sections.count("forward")) {
      std::printf("%-28s %10s %12s %14s\n", "forward (best of runs)", "seconds", "tokens/s", "of roofline");
      for (int64_t T : {128, 512, 2048}) {
        auto ids = random_ids(T, c.vocab, 1);
        double s = prefill_seconds(*m, ids, {}, T >= 2048 ? std::max(1, reps - 2) : reps, true);
        double frac = prefill_flops(c, T) / s / 1e9 / mach.gemm_gflops;
        std::printf("prefill T=%-18lld %10.4f %12.1f %13.0f%%\n", static_cast<long long>(T), s, T / s, 100 * frac);
      }
      auto ids = random_ids(128, c.vocab, 2);
      double spt = decode_seconds_per_token(*m, ids, 32, nullptr, nullptr, reps, true);
      // This VM's memory bandwidth swings between ~30 and ~80 GB/s over minutes: probe it again next to the
      // decode runs; the bound is the best either probe saw.
      mach.read_gbs = std::max(mach.read_gbs, measure_bandwidth());
      double frac = decode_weight_bytes(*m) / spt / 1e9 / mach.read_gbs;
      std::printf("decode 32 after T=128        %10.4f %12.1f %13.0f%%   (s/token; weight bytes / bandwidth)\n", spt,
                  1 / spt, 100 * frac);
      if (m->weights_packed()) {
        // The same model with row-major weights (the projections on the BLAS, as before packing), paired rounds.
        LoadOptions lo;
        lo.pack_weights = false;
        lo.load_tokenizer = false;
        auto rm = Model::load(model_dir, lo);
        std::printf("packed projections vs row-major weights on %s (paired rounds, time packed / row-major):\n",
                    blas_backend().c_str());
        const ForwardOptions plain;
        for (int64_t T : {128, 256, 512}) {
          const at::Tensor pt = at::tensor(random_ids(T, c.vocab, 3), at::kLong).unsqueeze(0);
          auto [b, r] = paired_ratio(prefill_job(*rm, pt, plain), prefill_job(*m, pt, plain), quick ? 3 : 5);
          std::printf("  prefill T=%-4lld %8.3f   (row-major %.4f s)\n", static_cast<long long>(T), r, b);
        }
        auto [b, r] = paired_ratio(generate_job(*rm, ids, 16), generate_job(*m, ids, 16), quick ? 3 : 5);
        std::printf("  prefill 128 + decode 16 %6.3f   (row-major %.4f s)\n", r, b);
      }
      rule();
    }

    if (sections.count("steer")) {
      const int64_t T = 512;
      auto ids = random_ids(T, c.vocab, 4);
      AttentionBias pasta = pasta_bias(c, T, 20, 5), guide = guide_bias(c, T);
      double base = prefill_seconds(*m, ids, {}, reps);
      ForwardOptions fp;
      fp.bias = &pasta;
      ForwardOptions fg;
      fg.bias = &guide;
      std::vector<uint8_t> span(static_cast<size_t>(T), 0);
      for (int64_t j = T / 4; j < T / 2; ++j) span[static_cast<size_t>(j)] = 1;
      HeadStatsRecorder stats(c.n_layers, c.n_heads, span, T / 2);
      ForwardOptions fs_;
      fs_.observer = &stats;
      InfluenceConfig ic;
      ic.indicator.assign(static_cast<size_t>(T), 0.0f);
      for (int64_t j = T / 4; j < T / 2; ++j) ic.indicator[static_cast<size_t>(j)] = 1.0f;
      InfluenceTracer tracer(ic);
      ForwardOptions fi;
      fi.observer = &tracer;
      const at::Tensor t = at::tensor(ids, at::kLong).unsqueeze(0);
      const ForwardOptions plain;
      const int rounds = quick ? 5 : 9;
      std::printf("%-40s %10s %10s\n", "prefill T=512 (paired rounds)", "seconds", "vs plain");
      std::printf("%-40s %10.4f %10s\n", "unsteered", base, "1.000");
      for (auto [name, fo] : {std::pair<const char*, const ForwardOptions*>{"PASTA, 20 heads, alpha 0.01", &fp},
                              {"GUIDE, all layers, delta 1", &fg},
                              {"head statistics, all heads", &fs_},
                              {"Influence + rollout tracing", &fi}}) {
        auto [b, r] = paired_ratio(prefill_job(*m, t, plain), prefill_job(*m, t, *fo), rounds);
        std::printf("%-40s %10.4f %10.3f\n", name, b * r, r);
      }
      auto dids = random_ids(128, c.vocab, 6);
      AttentionBias dp = pasta_bias(c, 128, 20, 7), dg = guide_bias(c, 128);
      std::printf("%-40s %10s %10s\n", "prefill 128 + decode 32 (paired)", "seconds", "vs plain");
      for (auto [name, bias] : {std::pair<const char*, const AttentionBias*>{"PASTA, 20 heads", &dp}, {"GUIDE, all layers", &dg}}) {
        auto [b, r] = paired_ratio(generate_job(*m, dids, 32), generate_job(*m, dids, 32, bias), rounds);
        std::printf("%-40s %10.4f %10.3f\n", name, b * r, r);
      }
      rule();
    }

    if (sections.count("heads")) {
      // Head ablation and the head metrics (issue #25): a bias without ablation must cost nothing, capture with the
      // statistics (attn_distance and future_influence included) must stay within 1.15x the plain forward.
      const int64_t T = 512;
      const at::Tensor t = at::tensor(random_ids(T, c.vocab, 21), at::kLong).unsqueeze(0);
      AttentionBias none(1, c.n_layers, c.n_heads, T);  // an (empty) ablation rides in every AttentionBias
      AttentionBias pasta = pasta_bias(c, T, 20, 22), pasta_abl = pasta;
      pasta_abl.ablation.set(0, c.n_layers / 2, 0, AblationMode::Zero);
      AttentionBias one(1, c.n_layers, c.n_heads, T), layer(1, c.n_layers, c.n_heads, T);
      one.ablation.set(0, c.n_layers / 2, 0, AblationMode::Zero);
      for (int64_t h = 0; h < c.n_heads; ++h) layer.ablation.set(0, c.n_layers / 2, h, AblationMode::Zero);
      std::vector<uint8_t> span(static_cast<size_t>(T), 0);
      for (int64_t j = T / 4; j < T / 2; ++j) span[static_cast<size_t>(j)] = 1;
      HeadStatsRecorder stats(c.n_layers, c.n_heads, span, T / 2);
      // An observer that asks for probabilities and scores and reads nothing: what materialising them costs, apart
      // from the statistics computed on them.
      struct Materialise : AttentionObserver {
      } materialise;
      auto with = [](const AttentionBias* b, AttentionObserver* o = nullptr) {
        ForwardOptions fo;
        fo.bias = b;
        fo.observer = o;
        return fo;
      };
      const ForwardOptions plain, f_none = with(&none), f_pasta = with(&pasta), f_pasta_abl = with(&pasta_abl),
                               f_one = with(&one), f_layer = with(&layer), f_stats = with(nullptr, &stats),
                               f_mat = with(nullptr, &materialise);
      const int rounds = quick ? 5 : 9;
      std::printf("%-46s %10s %10s\n", "heads: prefill T=512 (paired rounds)", "seconds", "ratio");
      struct Row {
        const char* name;
        const ForwardOptions *base, *variant;
        const char* note;
      };
      for (const Row& row : {Row{"bias with no ablation vs no bias", &plain, &f_none, "(should be 1)"},
                             Row{"zero-ablate 1 head vs plain", &plain, &f_one, ""},
                             Row{"zero-ablate a whole layer vs plain", &plain, &f_layer, ""},
                             Row{"PASTA 20 heads + 1 ablated vs PASTA", &f_pasta, &f_pasta_abl, ""},
                             Row{"observer materialising probs+scores vs plain", &plain, &f_mat, ""},
                             Row{"capture, head statistics (7) vs plain", &plain, &f_stats, "(limit 1.15)"}}) {
        auto [b, r] = paired_ratio(prefill_job(*m, t, *row.base), prefill_job(*m, t, *row.variant), rounds);
        std::printf("%-46s %10.4f %10.3f %s\n", row.name, b * r, r, row.note);
      }
      rule();
    }

    if (sections.count("interactive")) {
      const int64_t T = 256;
      auto ids = random_ids(T, c.vocab, 8);
      const int64_t lowest = c.n_layers / 2;
      // The LM head's bound is the read bandwidth: probe it again (this VM's swings between ~30 and ~80 GB/s) and
      // take the best seen, so that a slow first probe does not make the roofline generous.
      mach.read_gbs = std::max(mach.read_gbs, measure_bandwidth());
      // PASTA on head 0 of the upper half of the layers.
      const AttentionBias b = head0_pasta(c, T, lowest);
      SteeringSession session(*m, ids, 1);
      GenerateOptions go;
      go.max_new_tokens = 1;
      go.bias = &b;
      // A steering change costs ~0.1 s and a probe ~0.1 s: 21 paired rounds (9 with --quick) keep the median steady on
      // this VM, whose speed drifts within a run.
      const int ireps = quick ? 9 : 21;
      const double full = time_best([&] { generate(*m, ids, go); }, ireps, 1);
      // Roofline of the work a change must redo: the recomputed layers' FLOPs for the recomputed positions at
      // the GEMM peak, plus the LM head of the last position, which reads the whole [vocab, hidden] matrix for
      // one row (bound by bandwidth, not FLOPs: the max of the two bounds).
      const double head_flops = 2.0 * static_cast<double>(c.hidden * c.vocab);
      const double head_bytes = static_cast<double>(c.hidden * c.vocab) * (m->dtype() == at::kFloat ? 4 : 2);
      auto roofline = [&](double gflops, int64_t p0) {
        return layer_flops(c, T, p0, c.n_layers - lowest) / 1e9 / gflops +
               std::max(head_flops / 1e9 / gflops, head_bytes / 1e9 / mach.read_gbs);
      };
      // Paired rounds: this VM's GEMM speed drifts by 10-20 % between minutes, so every round times the
      // 2048^3 GEMM (best of 2, the faster of BLAS and packed) right next to the steering change and takes the
      // ratio of the two.
      std::printf("interactive: steering change -> first steered token, T=256, lowest steered layer %lld of %lld"
                  " (%d paired rounds)\n",
                  static_cast<long long>(lowest), static_cast<long long>(c.n_layers), ireps);
      std::printf("%-44s %8.4f s   (best of %d)\n", "full prefill", full, ireps);
      for (bool prefix : {false, true}) {
        session.set_reuse_prompt_prefix(prefix);
        session.steered(go);
        const int64_t p0 = session.last_resume_position();
        std::vector<double> reuse_t, ratio;
        for (int i = 0; i < ireps; ++i) {
          const double g = probe->best(2, 0);
          auto t0 = Clock::now();
          session.steered(go);
          reuse_t.push_back(seconds_since(t0));
          ratio.push_back(reuse_t.back() / roofline(g, p0));
        }
        std::sort(reuse_t.begin(), reuse_t.end());
        std::sort(ratio.begin(), ratio.end());
        const double reuse = reuse_t.front();
        std::printf("%-44s %8.4f s   %.2fx faster   (best; median %.4f s)\n",
                    prefix ? "reuse: + the prompt positions before p0" : "reuse: the unsteered layers below",
                    reuse, full / reuse, reuse_t[reuse_t.size() / 2]);
        std::printf("%-44s %8.4f s   at the run's GEMM peak (positions %lld-%lld)\n", "  roofline of the recomputed work",
                    roofline(mach.gemm_gflops, p0), static_cast<long long>(p0), static_cast<long long>(T - 1));
        std::printf("%-44s %8.2fx   (rounds %.2f-%.2fx; time / roofline at that round's GEMM speed)\n",
                    "  vs roofline, median round", ratio[ratio.size() / 2], ratio.front(), ratio.back());
      }
      rule();
    }

    if (sections.count("profiling")) {
      // Scoring every head for head profiling (methods.md §3), on prompts of the shape of SEKA's profiler: a two-
      // passage QA prompt "Context: {irrelevant} {relevant}\nQuestion: {q}\nAnswer:" (here 48 random tokens, the
      // relevant passage at 20-31 emphasised, PASTA alpha 0.01 exclude), scored from the first answer position
      // (log P(a) - log P(b), CounterFact efficacy's margin). Naive loop: one head at a time, a full generation
      // of 16 tokens (SEKA's max_new_tokens), no reuse, scored from its first step. Fast: scan_heads. Both in this
      // run, example by example; the naive loop on a sample of heads spread over the layers (every naive
      // head-example costs the same: a whole prefill and decode).
      const int64_t T = 48, s0 = 20, s1 = 32, new_tokens = 16;
      const int n_ex = quick ? 2 : 4, sample = quick ? 6 : 10;
      SteeringSpec every_head;
      every_head.method = SteeringMethod::Pasta;
      every_head.heads = HeadSet::all();
      const AttentionBias cand = compiled(every_head, c, T, s0, s1);
      const int64_t n_heads = c.n_layers * c.n_heads;
      double t_naive = 0, t_prefill_only = 0, t_fast = 0, max_score_diff = 0;
      int64_t naive_units = 0, fast_units = 0;
      for (int e = 0; e < n_ex; ++e) {
        const auto ids = random_ids(T, c.vocab, 100 + static_cast<uint64_t>(e));
        const int64_t ta = 3 + e, tb = 4 + e;  // the two watched tokens
        HeadScanOptions so;
        so.watch_tokens = {ta, tb};
        auto t0 = Clock::now();
        HeadScanResult r = scan_heads(*m, ids, cand, so);
        t_fast += seconds_since(t0);
        fast_units += n_heads;
        for (int k = 0; k < sample; ++k) {
          const int64_t i = (k * n_heads) / sample + e % 3;
          const auto [l, h] = r.heads[static_cast<size_t>(i)];
          AttentionBias one(1, c.n_layers, c.n_heads, T);
          one.set(0, l, h, cand.row(0, l, h));
          auto score = [&](const at::Tensor& logits) {
            at::Tensor lp = at::log_softmax(logits.to(at::kFloat), -1);
            return lp[ta].item<double>() - lp[tb].item<double>();
          };
          GenerateOptions go;
          go.max_new_tokens = new_tokens;
          go.stop_at_eos = false;
          go.bias = &one;
          go.keep_step_logits = true;
          t0 = Clock::now();
          GenerateResult g = generate(*m, ids, go);
          const double naive_score = score(g.step_logits[0][0]);
          t_naive += seconds_since(t0);
          ++naive_units;
          t0 = Clock::now();
          KVCache kc = m->new_cache(1, T);
          ForwardOptions fo;
          fo.bias = &one;
          const double prefill_score = score(m->forward(at::tensor(ids, at::kLong).unsqueeze(0), kc, fo).logits[0][0]);
          t_prefill_only += seconds_since(t0);
          const double fast_score = r.steered[i][0].item<double>() - r.steered[i][1].item<double>();
          max_score_diff = std::max({max_score_diff, std::abs(fast_score - naive_score), std::abs(prefill_score - naive_score)});
        }
      }
      const double naive_rate = naive_units / t_naive, prefill_rate = naive_units / t_prefill_only,
                   fast_rate = fast_units / t_fast;
      std::printf("profiling: every head scored on %d examples (T=%lld, emphasised %lld-%lld, PASTA alpha 0.01; "
                  "naive on %d sampled heads per example)\n",
                  n_ex, static_cast<long long>(T), static_cast<long long>(s0), static_cast<long long>(s1 - 1), sample);
      std::printf("%-52s %14s %10s\n", "", "heads*ex/s", "vs naive");
      std::printf("%-52s %14.2f %10s\n", "naive: one head at a time, generate 16, no reuse", naive_rate, "1.00");
      std::printf("%-52s %14.2f %9.2fx\n", "  the same, one prefill per head (no generation)", prefill_rate,
                  prefill_rate / naive_rate);
      std::printf("%-52s %14.2f %9.2fx   (%lld heads x %d examples in %.1f s)\n",
                  "scan_heads: rows = heads, branched, from logits", fast_rate, fast_rate / naive_rate,
                  static_cast<long long>(n_heads), n_ex, t_fast);
      // The scan's own work per example: the unsteered prefill, then for every head the layers from its own up for
      // the positions from the span on, and one LM-head row.
      const double head_row = 2.0 * static_cast<double>(c.hidden * c.vocab);
      double scan_flops = prefill_flops(c, T);
      for (int64_t l = 0; l < c.n_layers; ++l)
        scan_flops += static_cast<double>(c.n_heads) * (layer_flops(c, T, s0, c.n_layers - l) + head_row);
      std::printf("scan: %.0f GFLOP per example, %.0f %% of the GEMM bound; largest score difference scan vs naive %.2g\n",
                  scan_flops / 1e9, 100 * scan_flops * n_ex / t_fast / 1e9 / mach.gemm_gflops, max_score_diff);
      rule();
    }

    if (sections.count("bf16")) {
      bench::bf16_section(quick);
      rule();
    }

    if (sections.count("profile")) {
      bench::profile_section(*m, quick);
      rule();
    }

    if (sections.count("store")) {
      // What a capture run costs in the store: head statistics for all heads + 8 full fp16 maps, 512 tokens.
      const int64_t T = 512;
      auto ids = random_ids(T, c.vocab, 9);
      std::vector<uint8_t> span(static_cast<size_t>(T), 0);
      for (int64_t j = 100; j < 140; ++j) span[static_cast<size_t>(j)] = 1;
      HeadStatsRecorder stats(c.n_layers, c.n_heads, span, 140);
      KVCache cache = m->new_cache(1, T);
      ForwardOptions fo;
      fo.observer = &stats;
      m->forward(at::tensor(ids, at::kLong).unsqueeze(0), cache, fo);
      at::Tensor st = stats.stats()[0];
      const fs::path db = fs::temp_directory_path() / ("headlight-bench-" + std::to_string(getpid()) + ".db");
      {
        store::Store s = store::Store::open(db.string());
        store::ModelRecord mr;
        mr.path = model_dir.string();
        mr.config_hash = "bench";
        mr.architecture = c.model_type;
        store::RunRecord run;
        run.model_id = s.record_model(mr);
        run.kind = "capture";
        const int64_t rid = s.start_run(run);
        std::vector<store::HeadStat> hs;
        for (int64_t l = 0; l < c.n_layers; ++l)
          for (int64_t h = 0; h < c.n_heads; ++h)
            for (int64_t k = 0; k < st.size(2); ++k)
              hs.push_back({static_cast<int32_t>(l), static_cast<int32_t>(h), HeadStatsRecorder::names()[k],
                            st[l][h][k].item<double>()});
        s.add_head_stats(rid, hs);
        std::mt19937_64 r(1);
        for (int i = 0; i < 8; ++i) {
          store::FloatMatrix mtx;
          mtx.rows = mtx.cols = T;
          mtx.values.resize(static_cast<size_t>(T * T));
          for (auto& v : mtx.values) v = static_cast<float>(r() % 1000) / 1000.0f;
          s.add_attention_map(rid, static_cast<int32_t>(i), 0, "prefill", mtx);
        }
        s.finish_run(rid, "done");
      }
      const double bytes = static_cast<double>(fs::file_size(db)) +
                           (fs::exists(db.string() + "-wal") ? static_cast<double>(fs::file_size(db.string() + "-wal")) : 0.0);
      std::printf("store: head stats (%lld x %lld x 5) + 8 fp16 maps of %lld^2: %.2f MB (limit 10 MB)\n",
                  static_cast<long long>(c.n_layers), static_cast<long long>(c.n_heads), static_cast<long long>(T),
                  bytes / 1e6);
      fs::remove(db);
      fs::remove(db.string() + "-wal");
      fs::remove(db.string() + "-shm");
      rule();
    }

    if (sections.count("memory")) {
      std::printf("%-28s %12s %12s %14s %10s\n", "Influence+rollout, tokens", "seconds", "peak RSS", "dense capture", "ratio");
      for (int64_t T : quick ? std::vector<int64_t>{2048} : std::vector<int64_t>{2048, 8192}) {
        std::string cmd = std::string("'") + fs::canonical("/proc/self/exe").string() + "' influence-rss --model '" +
                          model_dir.string() + "' --tokens " + std::to_string(T) +
                          (threads ? " --threads " + std::to_string(threads) : "");
        FILE* p = popen(cmd.c_str(), "r");
        long before = 0, peak = 0;
        double secs = 0, inf = 0;
        if (!p || std::fscanf(p, "%ld %ld %lf %lf", &before, &peak, &secs, &inf) != 4) {
          std::printf("T=%lld: child failed\n", static_cast<long long>(T));
          if (p) pclose(p);
          continue;
        }
        pclose(p);
        const double dense = static_cast<double>(c.n_layers * c.n_heads) * T * T * 4;  // O(L·H·n²) f32 maps
        std::printf("T=%-26lld %12.2f %9.2f GB %11.2f GB %9.1fx\n", static_cast<long long>(T), secs, peak / 1048576.0,
                    dense / 1073741824.0, dense / (peak * 1024.0));
      }
      rule();
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "headlight-bench: error: %s\n", e.what());
    return 1;
  }
}
