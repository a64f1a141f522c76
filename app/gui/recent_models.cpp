#include "app/gui/recent_models.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace hl::gui {

std::string default_recent_models_file() {
  std::filesystem::path base;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) base = xdg;
  else if (const char* home = std::getenv("HOME"); home && *home) base = std::filesystem::path(home) / ".local" / "share";
  else return {};
  return (base / "headlight" / "recent_models.txt").string();
}

std::vector<std::string> read_recent_models(const std::string& file) {
  std::vector<std::string> out;
  if (file.empty()) return out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && std::find(out.begin(), out.end(), line) == out.end()) out.push_back(line);
  return out;
}

void remember_model(std::vector<std::string>& list, const std::string& path, const std::string& file, size_t keep) {
  list.erase(std::remove(list.begin(), list.end(), path), list.end());
  list.insert(list.begin(), path);
  if (list.size() > keep) list.resize(keep);
  if (file.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(file).parent_path(), ec);
  std::ofstream out(file, std::ios::trunc);
  for (const auto& p : list) out << p << '\n';
}

}  // namespace hl::gui
