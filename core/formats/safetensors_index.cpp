#include "core/formats/safetensors_index.h"

#include <set>

#include "core/error.h"
#include "core/json_limits.h"

namespace hl {

std::vector<std::string> parse_safetensors_index(const std::string& json_text, const std::string& where) {
  const nlohmann::json j = parse_json_bounded(json_text, where);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw Error(where + ": missing field \"weight_map\"");
  std::set<std::string> files;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it->is_string()) throw Error(where + ": weight_map entry \"" + it.key() + "\" is not a file name");
    const std::string f = it->get<std::string>();
    if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos || f == "." || f == ".." ||
        f.find('\0') != std::string::npos)
      throw Error(where + ": weight_map file \"" + f + "\" must be a plain file name in the model directory");
    files.insert(f);
  }
  if (files.empty()) throw Error(where + ": weight_map is empty");
  return {files.begin(), files.end()};
}

}  // namespace hl
