// The values of one headlight-cli command line, after the parser (main.cpp, CLI11) has checked them against the
// command's declared options: what was given, as text, with typed accessors.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/error.h"

namespace hl::cli {

class Args {
 public:
  Args() = default;
  Args(std::map<std::string, std::string> values, std::vector<std::string> positional)
      : values_(std::move(values)), positional_(std::move(positional)) {}
  // Parses `--flag value | --flag=value | --switch` from argv[first..] (for headlight-bench's few flags).
  Args(int argc, char** argv, int first);
  bool has(const std::string& flag) const { return values_.count(flag) != 0; }
  // Value of --flag; throws hl::Error("missing --flag") when absent.
  const std::string& get(const std::string& flag) const;
  std::string get(const std::string& flag, const std::string& dflt) const;
  long long get_int(const std::string& flag, long long dflt) const;
  double get_double(const std::string& flag, double dflt) const;
  // Comma-separated integers ("5,17,9").
  std::vector<long long> get_int_list(const std::string& flag) const;
  std::vector<double> get_double_list(const std::string& flag) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace hl::cli
