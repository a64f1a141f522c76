// headlight-bench: speed and memory figures as ratios measured in one run on this machine.
//   headlight-bench [--model DIR] [--threads N] [--quick] [--sections forward,steer,heads,interactive,profiling,profile,roofline,memory,store,bf16,big] [--big-model DIR]
// Without --model it synthesises the smollm2-135m shape (random weights) into a temp dir.
// `headlight-bench influence-rss --model DIR --tokens N` is the child process of the memory section, `big-run
// --model DIR` the big section's.
#include <ATen/Parallel.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "app/cli/args.h"
#include "bench/bench_bf16.h"
#include "bench/bench_profile.h"
#include "bench/bench_util.h"
#include "core/engine/model.h"
#include "core/engine/synth.h"
#include "core/error.h"

using namespace hl;
using namespace hl::bench;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  try {
    if (argc > 1 && std::string(argv[1]) == "influence-rss") return bench::influence_rss_child(cli::Args(argc, argv, 2));
    if (argc > 1 && std::string(argv[1]) == "big-run") return bench::big_child(cli::Args(argc, argv, 2));
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
      const std::set<std::string> known = {"roofline", "forward", "steer",  "heads", "interactive", "profiling",
                                           "profile",  "store",   "memory", "bf16",  "big"};
      for (const auto& x : sections)
        if (!known.count(x)) throw Error("--sections: unknown section \"" + x + "\" (headlight-bench --help lists them)");
    }
    if (sections.count("big")) {  // first, and alone in memory: it needs most of this machine's RAM
      bench::big_section(a, threads, quick);
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

    bench::Machine mach;
    std::optional<bench::GemmProbe> probe;  // 2048^2 operands and a packed copy: only for the sections that use them
    if (sections.count("roofline") || sections.count("forward") || sections.count("interactive") ||
        sections.count("profiling")) {
      probe.emplace();
      mach = measure_machine(*probe);
      std::printf("roofline   GEMM 2048^3 f32: %.1f GFLOP/s (BLAS %.1f, packed kernel %.1f)   streaming read: %.1f GB/s\n",
                  mach.gemm_gflops, mach.blas_gflops, mach.packed_gflops, mach.read_gbs);
      rule();
    }
    bench::Bench ctx{*m, model_dir, mach, probe ? &*probe : nullptr, threads, quick, reps};

    if (sections.count("forward")) {
      bench::forward_section(ctx);
      rule();
    }

    if (sections.count("steer")) {
      bench::steer_section(ctx);
      rule();
    }

    if (sections.count("heads")) {
      bench::heads_section(ctx);
      rule();
    }

    if (sections.count("interactive")) {
      bench::interactive_section(ctx);
      rule();
    }

    if (sections.count("profiling")) {
      bench::profiling_section(ctx);
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
      bench::store_section(ctx);
      rule();
    }

    if (sections.count("memory")) {
      bench::memory_section(ctx);
      rule();
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "headlight-bench: error: %s\n", e.what());
    return 1;
  }
}
