#include "storage/content_hash.h"

#include "core/fnv_hash.h"

namespace hl::store {

std::string content_hash(const std::string& bytes) { return fnv1a_hex(bytes); }

}  // namespace hl::store
