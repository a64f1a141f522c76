// Writing an output file so that a reader (or a crash) never sees half of it: the bytes go to a temporary file in the
// target's folder, which is renamed over the target once complete; on any failure the temporary file is removed and
// the target is left as it was. Torch-free.
#pragma once
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

namespace hl {

// `fill` writes the content; an exception from it (or a write error) removes the temporary file and propagates
// (write errors as hl::Error naming the path).
void write_file_atomic(const std::filesystem::path& path, const std::function<void(std::ostream&)>& fill);
void write_file_atomic(const std::filesystem::path& path, const std::string& bytes);

}  // namespace hl
