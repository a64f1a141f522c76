// headlight-cli: the headless twin of the GUI. Commands print JSON (or tables, or write files); any bad input gives a
// one-line error on stderr and a non-zero exit. Parsing is CLI11's: each command's declared options are typed and
// bounded, `--help` works for the tool and every command, and the global options (--model, --db, --device, --dtype,
// --threads, --json) may stand anywhere on the line.
#include <CLI/CLI.hpp>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <exception>
#include <set>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "core/error.h"
#include "core/kernels/cpu_features.h"
#include "workbench/run_recorder.h"

#ifndef HEADLIGHT_VERSION
#define HEADLIGHT_VERSION "unknown"
#endif

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

// Options that may stand before the command (and anywhere after it); each command still says which apply to it.
const std::vector<std::string> kGlobal = {"model", "db", "device", "dtype", "threads", "json"};

bool is_global(const std::string& n) { return std::find(kGlobal.begin(), kGlobal.end(), n) != kGlobal.end(); }

// Checks one value (or each comma-separated element of a list) against the option's type and bounds; "" when fine.
std::string check_value(const OptionSpec& o, const std::string& value) {
  auto check_one = [&](const std::string& s) -> std::string {
    if (o.type == OptType::Int || o.type == OptType::IntList) {
      char* end = nullptr;
      errno = 0;
      const long long v = std::strtoll(s.c_str(), &end, 10);
      if (s.empty() || *end || errno) return "\"" + s + "\" is not an integer";
      if (static_cast<double>(v) < o.min || static_cast<double>(v) > o.max)
        return s + " is outside [" + CLI::detail::to_string(static_cast<long long>(o.min)) + ", " +
               (std::isinf(o.max) ? std::string("inf") : std::to_string(static_cast<long long>(o.max))) + "]";
    } else if (o.type == OptType::Real || o.type == OptType::RealList) {
      char* end = nullptr;
      errno = 0;
      const double v = std::strtod(s.c_str(), &end);
      if (s.empty() || *end || errno || !std::isfinite(v)) return "\"" + s + "\" is not a finite number";
      if (v < o.min || v > o.max) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "%s is outside [%g, %g]", s.c_str(), o.min, o.max);
        return buf;
      }
    }
    return "";
  };
  if (o.type == OptType::IntList || o.type == OptType::RealList) {
    size_t start = 0;
    for (;;) {
      const size_t comma = value.find(',', start);
      const std::string item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      const std::string err = check_one(item);
      if (!err.empty()) return err;
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return "";
  }
  return check_one(value);
}

struct Bound {
  std::string value;
  bool set = false;
};

// Every option name any command declares: a text value equal to one ("--prompt --max-new 3") means the value is
// missing, not that the prompt is "--max-new".
std::set<std::string>& known_names() {
  static std::set<std::string> names;
  return names;
}

void add_option(CLI::App& app, const OptionSpec& o, Bound& b) {
  const std::string name = "--" + o.name;
  if (o.type == OptType::Switch) {
    app.add_flag_callback(name, [&b] { b.set = true; }, o.help);
    return;
  }
  auto* opt = app.add_option_function<std::string>(
      name, [&b](const std::string& v) {
        b.value = v;
        b.set = true;
      },
      o.help);
  opt->type_name(o.value_name);
  opt->check(CLI::Validator(
      [o](std::string& v) -> std::string {
        if (v.rfind("--", 0) == 0 && known_names().count(v.substr(2)))
          return "needs a value (got the option " + v + ")";
        return o.type == OptType::Text ? std::string() : check_value(o, v);
      },
      ""));
}

int fail(const std::string& where, std::string msg, int code) {
  for (auto& c : msg)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "%s: error: %s\n", where.c_str(), msg.c_str());
  return code;
}

}  // namespace

const CancelToken& interrupted() { return interrupt_token; }
}  // namespace hl::cli

int main(int argc, char** argv) {
  using namespace hl::cli;
  CLI::App app{"headlight-cli: see which attention heads a language model uses, and steer them (PASTA, GUIDE)."};
  app.set_version_flag("--version", std::string("headlight-cli ") + HEADLIGHT_VERSION);
  app.require_subcommand(1);
  app.allow_extras();  // reported below in our words: unknown command / unknown option / unexpected argument
  app.footer("headlight-cli COMMAND --help shows a command's options.");
  // Every option any command declares gets one slot in its subcommand (so `CMD --help` lists it); the globals also get
  // one on the app itself, for the options given before the command name.
  std::map<std::string, OptionSpec> global_specs;
  for (const auto& [name, cmd] : commands())
    for (const auto& o : cmd.options) known_names().insert(o.name);
  for (const auto& [name, cmd] : commands())
    for (const auto& o : cmd.options)
      if (is_global(o.name) && !global_specs.count(o.name)) global_specs[o.name] = o;
  if (!global_specs.count("json")) global_specs["json"] = flag("json", "print JSON");
  std::map<std::string, Bound> globals;
  for (const auto& n : kGlobal)
    if (global_specs.count(n)) add_option(app, global_specs[n], globals[n]);
  std::map<std::string, std::map<std::string, Bound>> bound;
  std::map<std::string, std::vector<std::string>> positionals;
  std::map<std::string, CLI::App*> subs;
  for (auto& [name, cmd] : commands()) {
    CLI::App* sub = app.add_subcommand(name, cmd.summary);
    sub->fallthrough();  // global options after the command name reach the app
    sub->allow_extras();
    for (const auto& o : cmd.options) add_option(*sub, o, bound[name][o.name]);
    if (!cmd.positionals.empty()) {
      std::string names;
      for (const auto& p : cmd.positionals) names += (names.empty() ? "" : " ") + p;
      sub->add_option("args", positionals[name], names)->type_name(names);
    }
    subs[name] = sub;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string where = "headlight-cli";
    bool in_command = false;
    for (const auto& [name, sub] : subs)
      if (sub->parsed()) where += " " + name, in_command = true;
    if (!in_command)
      for (const auto& r : app.remaining())
        if (!r.empty() && r[0] != '-')
          return fail(where, "unknown command \"" + r + "\" (headlight-cli --help lists the commands)", 2);
    return fail(where, e.what(), 2);
  }
  std::string name;
  for (const auto& [n, sub] : subs)
    if (sub->parsed()) name = n;
  const Command& cmd = commands().at(name);
  const std::string where = "headlight-cli " + name;
  std::vector<std::string> extras = subs[name]->remaining();
  const std::vector<std::string> app_extras = app.remaining();
  extras.insert(extras.end(), app_extras.begin(), app_extras.end());
  for (const auto& x : extras)
    if (x.rfind("-", 0) == 0)
      return fail(where, "unknown option " + x + " (headlight-cli " + name + " --help lists its options)", 2);
  if (!extras.empty()) return fail(where, "unexpected argument \"" + extras.front() + "\"", 2);
  std::map<std::string, std::string> values;
  for (const auto& [n, b] : bound[name])
    if (b.set) values[n] = b.value;
  for (const auto& [n, b] : globals) {
    if (!b.set) continue;
    const bool applies = std::any_of(cmd.options.begin(), cmd.options.end(), [&](const OptionSpec& o) { return o.name == n; });
    if (!applies) return fail(where, "--" + n + " does not apply to this command", 2);
    if (!values.count(n)) values[n] = b.value;  // given before the command name
  }
  if (positionals[name].size() > cmd.positionals.size())
    return fail(where, "unexpected argument \"" + positionals[name][cmd.positionals.size()] + "\"", 2);
  try {
    Args args(std::move(values), positionals[name]);
    hl::kernels::table();  // a bad HEADLIGHT_KERNELS is this command's error before it starts
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    return cmd.run(args);
  } catch (const hl::Cancelled&) {
    // Runs this command started are marked cancelled, not left running.
    hl::wb::settle_open_runs("cancelled", "");
    std::fprintf(stderr, "%s: cancelled\n", where.c_str());
    return 130;
  } catch (const std::exception& e) {
    hl::wb::settle_open_runs("failed", e.what());
    return fail(where, e.what(), 1);
  }
}
