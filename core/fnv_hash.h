// A short, stable content hash (64-bit FNV-1a, 16 hex digits): the store's spec/config hashes, suite contents,
// experiment fingerprints. One implementation for every layer. Not a security boundary.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace hl {

// Incremental: add() pieces, then hex().
class Fnv1a {
 public:
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
      h_ ^= p[i];
      h_ *= 0x100000001b3ull;
    }
  }
  void add(std::string_view s) { add(s.data(), s.size()); }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
    return buf;
  }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

inline std::string fnv1a_hex(std::string_view bytes) {
  Fnv1a f;
  f.add(bytes);
  return f.hex();
}

}  // namespace hl
