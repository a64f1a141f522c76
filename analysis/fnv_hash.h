// A short, stable content hash (64-bit FNV-1a, 16 hex digits) for analysis-side identities (suite contents,
// profiling job fingerprints); the same function as storage's content_hash, which analysis cannot link.
// Not a security boundary.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace hl {

inline std::string fnv1a_hex(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace hl
