// headlight's command line:
//   headlight [--model DIR] [--db FILE] [--script FILE] [--frames N] [--screenshot FILE.png] [--state-out FILE.json]
//             [--size WxH] [--bench-heatmap N] [--threads N] [--print-texts]
//             [--frame-log FILE.csv]
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace hl::gui {

struct AppArgs {
  std::string model;      // empty: the default model
  std::string db;
  std::string script;
  int64_t frames = -1;    // -1: run until the window closes (or, with a script, until it ends + N frames)
  std::string screenshot;
  std::string state_out;
  int width = 1600, height = 1000;
  int64_t bench_heatmap = 0;  // frames of the synthetic 4096 x 4096 zoom benchmark
  int threads = 0;
  std::string frame_log;  // per-frame timings as CSV (where a frame's time goes)
  bool print_texts = false;  // at exit, print the baseline and steered continuations (the demo shows them)
  bool help = false;
};

class ArgsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

AppArgs parse_app_args(const std::vector<std::string>& argv);  // throws ArgsError naming the option
const char* app_usage();

}  // namespace hl::gui
