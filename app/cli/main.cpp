// headlight-cli: the headless twin of the GUI. Every command prints JSON or writes files; any bad input
// gives a one-line error on stderr and a non-zero exit.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "core/error.h"
#include "workbench/run_recorder.h"

namespace hl::cli {
std::map<std::string, Command>& commands() {
  static std::map<std::string, Command> c;
  return c;
}

namespace {
CancelToken interrupt_token;  // a lock-free atomic flag: setting it is async-signal-safe
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_signal(int sig) {
  if (interrupt_token.cancelled()) {  // the second signal: stop now
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  interrupt_token.cancel();
}
}  // namespace

const CancelToken& interrupted() { return interrupt_token; }
}  // namespace hl::cli

static void usage() {
  std::fprintf(stderr, "usage: headlight-cli COMMAND [options]\n\ncommands:\n");
  for (const auto& [name, cmd] : hl::cli::commands())
    std::fprintf(stderr, "  %-10s %s\n", name.c_str(), cmd.usage.c_str());
}

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    usage();
    return argc < 2 ? 2 : 0;
  }
  // Global flags may come before the command (e.g. `headlight-cli --db FILE runs list`).
  int cmd_index = 1;
  while (cmd_index < argc && std::string(argv[cmd_index]).rfind("--", 0) == 0) cmd_index += 2;
  if (cmd_index >= argc) {
    usage();
    return 2;
  }
  const std::string name = argv[cmd_index];
  auto it = hl::cli::commands().find(name);
  if (it == hl::cli::commands().end()) {
    std::fprintf(stderr, "headlight-cli: unknown command \"%s\" (headlight-cli --help lists the commands)\n", name.c_str());
    return 2;
  }
  try {
    // Re-assemble: global flags before the command + everything after it.
    std::vector<char*> rest;
    rest.push_back(argv[0]);
    for (int i = 1; i < cmd_index; ++i) rest.push_back(argv[i]);
    for (int i = cmd_index + 1; i < argc; ++i) rest.push_back(argv[i]);
    hl::cli::Args args(static_cast<int>(rest.size()), rest.data(), 1);
    std::signal(SIGINT, hl::cli::on_signal);
    std::signal(SIGTERM, hl::cli::on_signal);
    return it->second.run(args);
  } catch (const hl::Cancelled&) {
    // Runs this command started are marked cancelled, not left running.
    hl::wb::settle_open_runs("cancelled", "");
    std::fprintf(stderr, "headlight-cli %s: cancelled\n", name.c_str());
    return 130;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    for (auto& c : msg)
      if (c == '\n') c = ' ';
    hl::wb::settle_open_runs("failed", msg);
    std::fprintf(stderr, "headlight-cli %s: error: %s\n", name.c_str(), msg.c_str());
    return 1;
  }
}
