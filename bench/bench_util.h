// Shared pieces of headlight-bench's sections: timing (medians, paired rounds, best of), the machine's rooflines
// (GEMM, streaming read), prompt and steering fixtures from the steering compiler, FLOP and byte counts, and the
// context every section gets.
#pragma once
#include <ATen/ATen.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "app/cli/args.h"
#include "core/engine/generate.h"
#include "core/engine/model.h"
#include "core/engine/packed_linear.h"
#include "core/steering_spec.h"

namespace hl::bench {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0);
// Median of `reps` timed runs after `warm` untimed ones.
double time_median(const std::function<void()>& f, int reps, int warm = 1);
// Median over rounds of t(variant) / t(base), timing the two back to back in every round: slow drifts of
// this shared VM then cancel in each ratio. Returns {median base seconds, median ratio}.
std::pair<double, double> paired_ratio(const std::function<void()>& base, const std::function<void()>& variant,
                                       int rounds);
// Medians of a and b over rounds that run each once, alternately (this VM's speed drifts over minutes: alternating
// puts both under the same drift), after one warm-up run each.
std::pair<double, double> alternating_medians(const std::function<void()>& a, const std::function<void()>& b,
                                              int rounds);
// Best of several runs: a roofline is what the machine can do at its best.
double time_best(const std::function<void()>& f, int reps, int warm = 2);
// Median of the runs, or (best = true) the best one.
double time_stat(bool best, const std::function<void()>& f, int reps);

struct Machine {
  double gemm_gflops = 0;  // f32, 2048^3: the faster of the BLAS and our packed kernel
  double blas_gflops = 0, packed_gflops = 0;
  double read_gbs = 0;     // streaming read bandwidth
};

// Streaming read bandwidth (GB/s): the fastest of three readers over 256 MB.
double measure_bandwidth();

// The machine's float32 GEMM speed at 2048^3 (GFLOP/s, best of `reps`), on the BLAS and on our packed kernel
// (where it applies: it can be the faster of the two, e.g. a BLAS without AVX-512 kernels for this CPU).
class GemmProbe {
 public:
  GemmProbe();
  double blas(int reps, int warm);
  double packed(int reps, int warm);
  double best(int reps, int warm) { return std::max(blas(reps, warm), packed(reps, warm)); }

 private:
  static constexpr double kFlops = 2.0 * 2048 * 2048 * 2048;
  at::Tensor a_, b_, c_;
  std::unique_ptr<engine::PackedWeight> packed_;
};

Machine measure_machine(GemmProbe& probe);

std::vector<int64_t> random_ids(int64_t n, int64_t vocab, uint64_t seed);
// One prefill of ids ([1, T]) into a fresh cache; fo is held by reference.
std::function<void()> prefill_job(const Model& m, const at::Tensor& ids, const ForwardOptions& fo);
// Greedy generation of n tokens after ids (no stop at EOS), with an optional bias.
std::function<void()> generate_job(const Model& m, const std::vector<int64_t>& ids, int64_t n,
                                   const AttentionBias* bias = nullptr);
double prefill_seconds(const Model& m, const std::vector<int64_t>& ids, const ForwardOptions& fo, int reps,
                       bool best = false);
// Seconds per decoded token (n new tokens after a prefill of `ids`), excluding the prefill.
double decode_seconds_per_token(const Model& m, const std::vector<int64_t>& ids, int64_t n, const AttentionBias* bias,
                                AttentionObserver* obs, int reps, bool best = false);

// Every bias the bench runs comes from the steering compiler, as users' specs do.
AttentionBias compiled(const SteeringSpec& spec, const ModelConfig& c, int64_t T, int64_t span_begin, int64_t span_end);
// PASTA alpha = 0.01 on `heads` random heads, emphasising [T/4, T/2).
AttentionBias pasta_bias(const ModelConfig& c, int64_t T, int heads, uint64_t seed);
// PASTA on head 0 of layers [lowest, L), emphasising the second half of the prompt.
AttentionBias head0_pasta(const ModelConfig& c, int64_t T, int64_t lowest);
// GUIDE delta = 1 on every layer, on [T/4, T/2).
AttentionBias guide_bias(const ModelConfig& c, int64_t T);

// FLOPs of the transformer layers (matmuls only) for the queries at positions [p0, T) of a T-token prompt when only
// the last position's logits are asked for; `layers`: the top layers run (all by default).
double layer_flops(const ModelConfig& c, int64_t T, int64_t p0 = 0, int64_t layers = -1);
// FLOPs of one prefill of T tokens (matmuls only; LM head for the last position).
double prefill_flops(const ModelConfig& c, int64_t T);
// Bytes of weights one decode step reads (every matrix once; embeddings: one row, LM head whole).
double decode_weight_bytes(const Model& m);

long peak_rss_kb();
// A line of /proc/self/status in kB (VmHWM: the peak resident set, VmRSS: now), or -1.
long proc_status_kb(const char* key);
// The 1, 5 and 15 minute load averages.
std::string load_average();
void rule();

// What every section of the main run gets: the model under test and the machine's rooflines (measured when a
// section that needs them runs).
struct Bench {
  const Model& m;
  std::filesystem::path model_dir;
  Machine& mach;
  GemmProbe* probe;  // null unless a roofline section runs
  int threads;
  bool quick;
  int reps;
};

void forward_section(Bench& b);
void steer_section(Bench& b);
void heads_section(Bench& b);
void interactive_section(Bench& b);
void profiling_section(Bench& b);
void store_section(Bench& b);
void memory_section(Bench& b);
// `headlight-bench influence-rss --model DIR --tokens N`: the memory section's child process.
int influence_rss_child(const cli::Args& a);
// The big section (a 7B shape in bf16) and its child process `headlight-bench big-run --model DIR`.
void big_section(const cli::Args& a, int threads, bool quick);
int big_child(const cli::Args& a);

}  // namespace hl::bench
