// A fresh directory per test under the system temp dir, removed with its contents at scope exit. Shared by
// the unit and engine tests (one type instead of one per test file).
#pragma once
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace hl_test {

class ScratchDir {
 public:
  // `tag` names the directory (hl_<tag>_XXXXXX, unique through mkdtemp).
  explicit ScratchDir(const std::string& tag = "test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / ("hl_" + tag + "_XXXXXX")).string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::filesystem::filesystem_error("mkdtemp", tmpl, std::error_code(errno, std::generic_category()));
    dir = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  // Writes `bytes` to dir/name (replacing it) and returns the path.
  std::filesystem::path write(const std::string& name, const std::string& bytes) const {
    const auto p = dir / name;
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  std::string file(const std::string& name) const { return (dir / name).string(); }

  std::filesystem::path dir;
};

}  // namespace hl_test
