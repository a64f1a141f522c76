#include "core/file_write.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/error.h"

namespace hl {

void write_file_atomic(const std::filesystem::path& path, const std::function<void(std::ostream&)>& fill) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw Error(path.string() + ": cannot write: the folder " + dir.string() + " does not exist");
  // Same folder: the rename is atomic on one file system. The pid keeps two processes' temporaries apart.
  const std::filesystem::path tmp =
      dir / ("." + path.filename().string() + ".tmp." + std::to_string(static_cast<long long>(::getpid())));
  try {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error(path.string() + ": cannot write (" + std::strerror(errno) + ")");
    fill(f);
    f.flush();
    if (!f) throw Error(path.string() + ": write failed (" + std::strerror(errno) + ")");
    f.close();
    if (!f) throw Error(path.string() + ": write failed (" + std::strerror(errno) + ")");
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw Error(path.string() + ": cannot move the written file into place (" + ec.message() + ")");
  } catch (...) {
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

void write_file_atomic(const std::filesystem::path& path, const std::string& bytes) {
  write_file_atomic(path, [&](std::ostream& o) { o.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

}  // namespace hl
