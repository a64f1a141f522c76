#include "app/cli/profile_files.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "analysis/fnv_hash.h"
#include "core/error.h"

namespace hl::cli {
namespace fs = std::filesystem;

SuiteSources suite_sources() {
  SuiteSources s;
  const char* env = std::getenv("HEADLIGHT_SHARED_DIR");
  s.shared_dir = env && *env ? fs::path(env) : fs::path(HEADLIGHT_DEFAULT_SHARED);
  s.assets_dir = HEADLIGHT_DEFAULT_ASSETS;
  return s;
}

std::string model_config_hash(const Model& m) {
  const fs::path src = m.source();
  if (fs::is_directory(src)) {
    std::ifstream f(src / "config.json", std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return fnv1a_hex(ss.str());
  }
  const ModelConfig& c = m.config();
  return fnv1a_hex(c.model_type + ":" + std::to_string(c.n_layers) + ":" + std::to_string(c.hidden) + ":" +
                   std::to_string(fs::file_size(src)));
}

std::string model_weights_id(const Model& m) {
  std::vector<fs::path> files;
  const fs::path src = m.source();
  if (fs::is_directory(src)) {
    for (const auto& e : fs::directory_iterator(src))
      if (e.is_regular_file() && e.path().extension() == ".safetensors") files.push_back(e.path());
  } else {
    files.push_back(src);
  }
  std::sort(files.begin(), files.end());
  std::string digest;
  for (const fs::path& f : files) {
    const auto size = static_cast<int64_t>(fs::file_size(f));
    std::ifstream in(f, std::ios::binary);
    if (!in) throw Error(f.string() + ": cannot read weights");
    std::string buf;
    auto sample = [&](int64_t at, int64_t n) {
      n = std::max<int64_t>(0, std::min(n, size - at));
      buf.resize(static_cast<size_t>(n));
      in.seekg(at);
      in.read(buf.data(), n);
      digest += fnv1a_hex(buf);
    };
    digest += f.filename().string() + ":" + std::to_string(size) + ":";
    sample(0, 64 << 10);
    for (int k = 0; k < 16; ++k) sample(size / 16 * k + size / 32, 4 << 10);
  }
  return fnv1a_hex(digest);
}

void write_file_atomic(const fs::path& path, const std::string& text) {
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  const fs::path tmp = dir / ("." + path.filename().string() + "." + std::to_string(getpid()) + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(path.string() + ": cannot write (folder missing or read-only?)");
    out << text;
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw Error(path.string() + ": write failed");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error(path.string() + ": cannot replace: " + ec.message());
  }
}

}  // namespace hl::cli
