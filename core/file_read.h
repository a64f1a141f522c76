// Reading a whole user file into memory with a size bound. Torch-free.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace hl {

// The file's bytes. Throws hl::Error naming the file when it is missing, unreadable or larger than max_bytes;
// `what` names the kind of file in the message ("tokenizer file", "task file").
std::string read_file_bounded(const std::filesystem::path& path, int64_t max_bytes, const std::string& what);

}  // namespace hl
