// at::Tensor <-> safetensors files (for CLI outputs and tests).
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace hl {

void save_tensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                  const std::map<std::string, std::string>& metadata = {});
// Every tensor of a safetensors file, in its stored dtype, on CPU; `metadata` (when given) receives the file's
// __metadata__ from the same mapping.
std::map<std::string, at::Tensor> load_tensors(const std::filesystem::path& path,
                                               std::map<std::string, std::string>* metadata = nullptr);

}  // namespace hl
