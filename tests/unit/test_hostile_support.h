// Shared by the hostile-input tests: a scratch directory and "which hl::Error did this throw".
#pragma once
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "core/error.h"
#include "tests/scratch_dir.h"

namespace hostile {

using Scratch = hl_test::ScratchDir;

// The message of the hl::Error `f` throws, or "<no error>". Any other exception escapes and fails the test:
// bad input must be refused with hl::Error, never with a library exception or a crash.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const hl::Error& e) {
    return e.what();
  }
  return "<no error>";
}

inline std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

inline std::string le32(int32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(static_cast<uint32_t>(v) >> (8 * i));
  return s;
}

// A safetensors file: length prefix, the header text, then `data_bytes` zero bytes.
inline std::string safetensors_bytes(const std::string& header, size_t data_bytes = 0) {
  return le64(header.size()) + header + std::string(data_bytes, '\0');
}

}  // namespace hostile
