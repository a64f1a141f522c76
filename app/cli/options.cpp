// Option declarations shared by the commands.
#include "app/cli/commands.h"

namespace hl::cli {

OptionSpec flag(const std::string& name, const std::string& help) { return {name, OptType::Switch, "", help}; }
OptionSpec text(const std::string& name, const std::string& value_name, const std::string& help) {
  return {name, OptType::Text, value_name, help};
}
OptionSpec integer(const std::string& name, const std::string& value_name, const std::string& help, double min, double max) {
  return {name, OptType::Int, value_name, help, min, max};
}
OptionSpec real(const std::string& name, const std::string& value_name, const std::string& help, double min, double max) {
  return {name, OptType::Real, value_name, help, min, max};
}
OptionSpec int_list(const std::string& name, const std::string& value_name, const std::string& help, double min,
                    double max) {
  return {name, OptType::IntList, value_name, help, min, max};
}
OptionSpec real_list(const std::string& name, const std::string& value_name, const std::string& help, double min,
                     double max) {
  return {name, OptType::RealList, value_name, help, min, max};
}

std::vector<OptionSpec> model_options() {
  return {text("model", "DIR", "HF model directory, llama2.c .bin, or a folder holding one of them"),
          text("device", "DEV", "cpu (default), cuda or cuda:N"),
          text("dtype", "TYPE", "auto (default: float32 compute, a bf16/f16 checkpoint's projections kept 16-bit), "
                                        "f32 (upcast everything), bf16, f16 (compute in that type)"),
          integer("threads", "N", "compute threads (default 0 = one per core)", 0, 1024)};
}

std::vector<OptionSpec> prompt_options() {
  return {text("prompt", "TEXT", "the prompt (markers like **...** are parsed only with --steering)"),
          int_list("ids", "1,2,3", "the prompt as token ids (instead of --prompt)", 0),
          text("steering", "SPEC.json", "a steering spec (PASTA, GUIDE, InstABoost; see the README)")};
}

std::vector<OptionSpec> operator+(std::vector<OptionSpec> a, const std::vector<OptionSpec>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace hl::cli
