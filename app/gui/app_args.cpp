#include "app/gui/app_args.h"

#include <cstdlib>

namespace hl::gui {
namespace {

int64_t parse_count(const std::string& opt, const std::string& v, int64_t lo, int64_t hi) {
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < lo || n > hi)
    throw ArgsError(opt + ": \"" + v + "\" is not a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return n;
}

}  // namespace

const char* app_usage() {
  return "usage: headlight [--model DIR] [--db FILE] [--script FILE] [--frames N] [--screenshot FILE.png]\n"
         "                 [--state-out FILE.json] [--size WxH] [--bench-heatmap N] [--threads N] [--print-texts]\n"
         "                 [--frame-log FILE.csv]\n";
}

AppArgs parse_app_args(const std::vector<std::string>& argv) {
  AppArgs a;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& opt = argv[i];
    if (opt == "--help" || opt == "-h") {
      a.help = true;
      continue;
    }
    if (opt == "--print-texts") {
      a.print_texts = true;
      continue;
    }
    if (opt.rfind("--", 0) != 0) throw ArgsError("unexpected argument \"" + opt + "\"");
    if (i + 1 >= argv.size()) throw ArgsError(opt + " needs a value");
    const std::string& v = argv[++i];
    if (opt == "--model") a.model = v;
    else if (opt == "--db") a.db = v;
    else if (opt == "--script") a.script = v;
    else if (opt == "--frames") a.frames = parse_count(opt, v, 0, 10000000);
    else if (opt == "--screenshot") {
      if (v.size() < 5 || v.compare(v.size() - 4, 4, ".png") != 0) throw ArgsError("--screenshot: \"" + v + "\" must end in .png");
      a.screenshot = v;
    } else if (opt == "--state-out") a.state_out = v;
    else if (opt == "--size") {
      const size_t x = v.find('x');
      if (x == std::string::npos) throw ArgsError("--size: \"" + v + "\" is not WIDTHxHEIGHT (e.g. 1600x1000)");
      a.width = static_cast<int>(parse_count("--size width", v.substr(0, x), 320, 16384));
      a.height = static_cast<int>(parse_count("--size height", v.substr(x + 1), 240, 16384));
    } else if (opt == "--bench-heatmap") a.bench_heatmap = parse_count(opt, v, 1, 100000);
    else if (opt == "--frame-log") a.frame_log = v;
    else if (opt == "--threads") a.threads = static_cast<int>(parse_count(opt, v, 0, 1024));
    else throw ArgsError("unknown option " + opt);
  }
  return a;
}

}  // namespace hl::gui
