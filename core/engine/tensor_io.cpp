#include "core/engine/tensor_io.h"

#include <ATen/ATen.h>

#include "core/engine/weight_source.h"
#include "core/error.h"
#include "core/safetensors.h"

namespace hl {

void save_tensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                  const std::map<std::string, std::string>& metadata) {
  SafetensorsWriter w;
  for (const auto& [k, v] : metadata) w.set_metadata(k, v);
  for (const auto& [name, t] : tensors) {
    at::Tensor c = t.to(at::kCPU).contiguous();
    DType d;
    switch (c.scalar_type()) {
      case at::kFloat: d = DType::F32; break;
      case at::kDouble: d = DType::F64; break;
      case at::kHalf: d = DType::F16; break;
      case at::kBFloat16: d = DType::BF16; break;
      case at::kLong: d = DType::I64; break;
      case at::kInt: d = DType::I32; break;
      default: throw Error("save_tensors: unsupported dtype for tensor \"" + name + "\"");
    }
    std::vector<int64_t> shape(c.sizes().begin(), c.sizes().end());
    w.add(name, d, shape, c.data_ptr(), static_cast<size_t>(c.numel()) * c.element_size());
  }
  w.write(path);
}

std::map<std::string, at::Tensor> load_tensors(const std::filesystem::path& path,
                                               std::map<std::string, std::string>* metadata) {
  SafetensorsFile f(path);
  if (metadata) *metadata = f.metadata();
  std::map<std::string, at::Tensor> out;
  for (const auto& t : f.tensors()) {
    at::Tensor x = engine::tensor_from_bytes(t, f.data(t), at::kFloat, at::kCPU);
    if (t.dtype == DType::I64 || t.dtype == DType::I32)
      x = engine::tensor_from_bytes(t, f.data(t), at::kLong, at::kCPU);
    else if (t.dtype == DType::F64)
      x = engine::tensor_from_bytes(t, f.data(t), at::kDouble, at::kCPU);
    out[t.name] = x;
  }
  return out;
}

}  // namespace hl
