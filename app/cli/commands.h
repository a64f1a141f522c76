// headlight-cli commands register themselves here; each lives in its own cmd_<name>.cpp.
#pragma once
#include <functional>
#include <map>
#include <string>

#include "app/cli/args.h"
#include "core/job.h"

namespace hl::cli {

using CommandFn = std::function<int(const Args&)>;

struct Command {
  std::string usage;  // one line: flags
  CommandFn run;
};

std::map<std::string, Command>& commands();

// Set by SIGINT / SIGTERM: long commands pass it as their cancel token, stop at the next check and throw
// hl::Cancelled; main then marks their store runs cancelled. A second signal ends the process at once.
const CancelToken& interrupted();

struct RegisterCommand {
  RegisterCommand(const std::string& name, const std::string& usage, CommandFn fn) {
    commands()[name] = Command{usage, std::move(fn)};
  }
};

}  // namespace hl::cli
