#include "core/file_read.h"

#include <fstream>

#include "core/error.h"

namespace hl {

std::string read_file_bounded(const std::filesystem::path& path, int64_t max_bytes, const std::string& what) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(path.string() + ": " + what + " not found");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(path.string() + ": cannot read " + what + " (" + ec.message() + ")");
  if (static_cast<int64_t>(size) > max_bytes)
    throw Error(path.string() + ": " + what + " is too large (over " + std::to_string(max_bytes) + " bytes)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open " + what);
  std::string data(size, '\0');
  if (size > 0 && !in.read(data.data(), static_cast<std::streamsize>(size)))
    throw Error(path.string() + ": cannot read " + what);
  return data;
}

}  // namespace hl
