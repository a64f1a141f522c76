// headlight-cli commands register themselves here; each lives in its own cmd_<name>.cpp and declares its options
// (typed and bounded), so that the parser (CLI11, main.cpp) refuses a bad value before the command runs and
// `headlight-cli CMD --help` documents every option with its default.
#pragma once
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "core/job.h"

namespace hl::cli {

using CommandFn = std::function<int(const Args&)>;

enum class OptType { Switch, Text, Int, Real, IntList, RealList };

struct OptionSpec {
  std::string name;        // without the dashes: "max-new"
  OptType type = OptType::Text;
  std::string value_name;  // shown in help: "N", "TEXT", "FILE"
  std::string help;        // what it does, and its default
  double min = -std::numeric_limits<double>::infinity();  // Int / Real (and list elements): inclusive bounds
  double max = std::numeric_limits<double>::infinity();
};

OptionSpec flag(const std::string& name, const std::string& help);
OptionSpec text(const std::string& name, const std::string& value_name, const std::string& help);
OptionSpec integer(const std::string& name, const std::string& value_name, const std::string& help,
                   double min = -std::numeric_limits<double>::infinity(),
                   double max = std::numeric_limits<double>::infinity());
// Finite numbers only (nan and inf are refused).
OptionSpec real(const std::string& name, const std::string& value_name, const std::string& help,
                double min = -std::numeric_limits<double>::infinity(),
                double max = std::numeric_limits<double>::infinity());
OptionSpec int_list(const std::string& name, const std::string& value_name, const std::string& help,
                    double min = -std::numeric_limits<double>::infinity(),
                    double max = std::numeric_limits<double>::infinity());
OptionSpec real_list(const std::string& name, const std::string& value_name, const std::string& help,
                     double min = -std::numeric_limits<double>::infinity(),
                     double max = std::numeric_limits<double>::infinity());

// --model, --device, --dtype, --threads: every command that loads a model.
std::vector<OptionSpec> model_options();
// --prompt / --ids and --steering.
std::vector<OptionSpec> prompt_options();
std::vector<OptionSpec> operator+(std::vector<OptionSpec> a, const std::vector<OptionSpec>& b);

struct Command {
  std::string summary;                  // one line
  std::vector<OptionSpec> options;
  std::vector<std::string> positionals; // names of positional arguments (e.g. runs: ACTION, ID); none by default
  CommandFn run;
};

std::map<std::string, Command>& commands();

struct RegisterCommand {
  RegisterCommand(const std::string& name, const std::string& summary, std::vector<OptionSpec> options, CommandFn fn,
                  std::vector<std::string> positionals = {}) {
    commands()[name] = Command{summary, std::move(options), std::move(positionals), std::move(fn)};
  }
};

// Set by SIGINT / SIGTERM: long commands pass it as their cancel token, stop at the next check and throw
// hl::Cancelled; main then marks their store runs cancelled. A second signal ends the process at once.
const CancelToken& interrupted();

}  // namespace hl::cli
