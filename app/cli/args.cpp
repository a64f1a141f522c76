#include "app/cli/args.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace hl::cli {

Args::Args(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0 && a.size() > 2) {
      std::string key = a.substr(2), val;
      auto eq = key.find('=');
      if (eq != std::string::npos) {
        val = key.substr(eq + 1);
        key = key.substr(0, eq);
      } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
        val = argv[++i];
      } else {
        val = "";  // a switch
      }
      values_[key] = val;
    } else {
      positional_.push_back(a);
    }
  }
}

const std::string& Args::get(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end()) throw Error("missing --" + flag);
  return it->second;
}

std::string Args::get(const std::string& flag, const std::string& dflt) const {
  auto it = values_.find(flag);
  return it == values_.end() ? dflt : it->second;
}

long long Args::get_int(const std::string& flag, long long dflt) const {
  if (!has(flag)) return dflt;
  const std::string& s = get(flag);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end || errno) throw Error("--" + flag + ": \"" + s + "\" is not an integer");
  return v;
}

double Args::get_double(const std::string& flag, double dflt) const {
  if (!has(flag)) return dflt;
  const std::string& s = get(flag);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end || errno || !std::isfinite(v)) throw Error("--" + flag + ": \"" + s + "\" is not a finite number");
  return v;
}

std::vector<long long> Args::get_int_list(const std::string& flag) const {
  std::vector<long long> out;
  std::stringstream ss(get(flag));
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end || errno) throw Error("--" + flag + ": \"" + item + "\" is not an integer");
    out.push_back(v);
  }
  if (out.empty()) throw Error("--" + flag + ": empty list");
  return out;
}

std::vector<double> Args::get_double_list(const std::string& flag) const {
  std::vector<double> out;
  std::stringstream ss(get(flag));
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(item.c_str(), &end);
    if (item.empty() || *end || errno || !std::isfinite(v))
      throw Error("--" + flag + ": \"" + item + "\" is not a finite number");
    out.push_back(v);
  }
  if (out.empty()) throw Error("--" + flag + ": empty list");
  return out;
}

}  // namespace hl::cli
