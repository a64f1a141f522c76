#include "app/gui/script.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "app/gui/gui_state.h"
#include "app/gui/head_metrics.h"
#include "app/gui/panels.h"

namespace hl::gui {
namespace {

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return {};
  return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

bool parse_number(const std::string& t, double* out) {
  if (t.empty()) return false;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

}  // namespace

std::string script_message(const std::string& where, int line, const std::string& message, const std::string& source) {
  return where + ":" + std::to_string(line) + ": " + message + ": `" + source + "`";
}

std::vector<ScriptAction> parse_script(const std::string& text, const std::string& where) {
  std::vector<ScriptAction> out;
  std::istringstream in(text);
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    const std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.find_first_of(" \t");
    const std::string cmd = line.substr(0, sp);
    const std::string arg = sp == std::string::npos ? std::string() : trim(line.substr(sp));
    ScriptAction a;
    a.line = line_no;
    a.source = line;
    auto fail = [&](const std::string& msg) { throw ScriptError(script_message(where, line_no, msg, line)); };
    auto need_arg = [&](const char* what) {
      if (arg.empty()) fail(cmd + " needs " + what);
    };
    auto need_no_arg = [&]() {
      if (!arg.empty()) fail(cmd + " takes no argument");
    };
    auto number = [&](const char* what) {
      need_arg(what);
      if (!parse_number(arg, &a.number)) fail(cmd + ": \"" + arg + "\" is not a number");
    };
    if (cmd == "prompt") {
      need_arg("the prompt text");
      a.op = ScriptOp::Prompt;
      a.text = arg;
    } else if (cmd == "emphasize" || cmd == "emphasise") {
      need_arg("the text to emphasise");
      a.op = ScriptOp::Emphasize;
      a.text = arg;
    } else if (cmd == "method") {
      a.op = ScriptOp::Method;
      if (arg == "pasta") a.method = SteeringMethod::Pasta;
      else if (arg == "guide") a.method = SteeringMethod::Guide;
      else if (arg == "instaboost") a.method = SteeringMethod::InstaBoost;
      else if (arg == "none") a.method = SteeringMethod::None;
      else fail("method must be pasta, guide, instaboost or none, not \"" + arg + "\"");
    } else if (cmd == "alpha") {
      number("a value in (0, 1]");
      if (!(a.number > 0)) fail("alpha must be > 0");
      a.op = ScriptOp::Alpha;
    } else if (cmd == "delta") {
      number("a value");
      a.op = ScriptOp::Delta;
    } else if (cmd == "multiplier") {
      number("a value > 0");
      if (!(a.number > 0)) fail("multiplier must be > 0");
      a.op = ScriptOp::Multiplier;
    } else if (cmd == "heads" || cmd == "ablate") {
      need_arg("a head list (L1H5,L2H0), all or none");
      a.op = cmd == "heads" ? ScriptOp::Heads : ScriptOp::Ablate;
      if (arg != "none") {
        try {
          a.heads = parse_head_set_text(arg, cmd);
        } catch (const std::exception& e) {
          fail(e.what());
        }
      }
    } else if (cmd == "toggle" || cmd == "select") {
      need_arg("a head name like L1H5");
      a.op = cmd == "toggle" ? ScriptOp::Toggle : ScriptOp::Select;
      if (!parse_head_name(arg, &a.layer, &a.head) || (a.op == ScriptOp::Toggle && a.head < 0))
        fail("\"" + arg + "\" is not a head name like L1H5" + std::string(a.op == ScriptOp::Select ? " (or L1 for a layer's mean)" : ""));
    } else if (cmd == "panel") {
      need_arg("a panel name");
      a.op = ScriptOp::Panel;
      a.text = arg;
      if (panel_title(arg).empty()) {
        std::string names;
        for (const auto& n : panel_names()) names += (names.empty() ? "" : ", ") + n;
        fail("unknown panel \"" + arg + "\" (panels: " + names + ")");
      }
    } else if (cmd == "wait") {
      need_no_arg();
      a.op = ScriptOp::Wait;
    } else if (cmd == "screenshot") {
      need_arg("a .png file");
      if (arg.size() < 5 || arg.compare(arg.size() - 4, 4, ".png") != 0) fail("screenshot file must end in .png");
      a.op = ScriptOp::Screenshot;
      a.text = arg;
    } else if (cmd == "frames") {
      number("a frame count");
      if (a.number < 0 || a.number > 1e6 || a.number != std::floor(a.number)) fail("frames needs a whole number of frames");
      a.op = ScriptOp::Frames;
    } else if (cmd == "tokens") {
      number("a token count");
      if (a.number < 1 || a.number > 100000 || a.number != std::floor(a.number)) fail("tokens needs a whole number from 1 to 100000");
      a.op = ScriptOp::Tokens;
    } else if (cmd == "heatmap") {
      a.op = ScriptOp::Heatmap;
      if (arg == "baseline") a.variant = 0;
      else if (arg == "steered") a.variant = 1;
      else if (arg == "difference") a.variant = 2;
      else fail("heatmap shows baseline, steered or difference, not \"" + arg + "\"");
    } else if (cmd == "zoom") {
      number("a number of cells (0 = fit)");
      if (a.number < 0) fail("zoom needs 0 (fit) or a number of cells");
      a.op = ScriptOp::Zoom;
    } else if (cmd == "ablation") {
      a.op = ScriptOp::Ablation;
      if (arg == "zero") a.ablation = AblationMode::Zero;
      else if (arg == "mean") a.ablation = AblationMode::Mean;
      else fail("ablation must be zero or mean, not \"" + arg + "\"");
    } else if (cmd == "click") {
      a.op = ScriptOp::Click;
      if (arg == "steer") a.variant = 0;
      else if (arg == "ablate") a.variant = 1;
      else fail("click toggles steer or ablate, not \"" + arg + "\"");
    } else if (cmd == "colour" || cmd == "color") {
      need_arg("a heads-grid colour (a statistic such as attn_distance, scan or retrieval)");
      a.op = ScriptOp::Colour;
      a.text = arg;
      const auto known = head_stat_names(wb::Snapshot{});
      if (arg != "scan" && arg != "retrieval" && std::find(known.begin(), known.end(), arg) == known.end()) {
        std::string names;
        for (const auto& n : known) names += n + ", ";
        fail("unknown colour \"" + arg + "\" (" + names + "scan or retrieval)");
      }
    } else if (cmd == "scan") {
      need_no_arg();
      a.op = ScriptOp::Scan;
    } else if (cmd == "load") {
      need_arg("a model path");
      a.op = ScriptOp::Load;
      a.text = arg;
    } else {
      fail("unknown command \"" + cmd + "\"");
    }
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<ScriptAction> load_script(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ScriptError("script " + path + ": cannot be read");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_script(ss.str(), path);
}

}  // namespace hl::gui
