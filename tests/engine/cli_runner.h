// Runs headlight-cli as a child process for end-to-end tests.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

#include "engine/doctest_torch.h"
#include "engine/golden.h"

namespace hl::test {

struct CliResult {
  int status = -1;
  std::string out, err;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline CliResult run_cli(const std::vector<std::string>& args) {
  static int n = 0;
  const std::string errfile = "/tmp/hl-cli-err-" + std::to_string(getpid()) + "-" + std::to_string(n++);
  std::string cmd = shell_quote((binary_dir() / "bin/headlight-cli").string());
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " 2>" + errfile;
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, k);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream e(errfile);
  r.err.assign(std::istreambuf_iterator<char>(e), {});
  std::remove(errfile.c_str());
  return r;
}

// Starts headlight-cli in the background (stdout and stderr to /dev/null) for tests that signal or kill it.
inline pid_t spawn_cli(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<std::string> full = {(binary_dir() / "bin/headlight-cli").string()};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : full) argv.push_back(s.data());
    argv.push_back(nullptr);
    if (!freopen("/dev/null", "w", stderr) || !freopen("/dev/null", "w", stdout)) _exit(126);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// A command that must fail with a one-line error containing `needle`.
inline void expect_cli_error(const std::vector<std::string>& args, const std::string& needle) {
  CliResult r = run_cli(args);
  INFO(args[0], " -> ", r.err);
  CHECK(r.status != 0);
  CHECK(r.err.find(needle) != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

inline std::string join_ids(const std::vector<int64_t>& ids) {
  std::string s;
  for (auto i : ids) s += (s.empty() ? "" : ",") + std::to_string(i);
  return s;
}

}  // namespace hl::test
