#include "core/engine/weight_source.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/formats/safetensors_index.h"

namespace hl::engine {
namespace fs = std::filesystem;

namespace {

at::ScalarType to_scalar(DType d, const std::string& where) {
  switch (d) {
    case DType::F64: return at::kDouble;
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::I64: return at::kLong;
    case DType::I32: return at::kInt;
    case DType::I16: return at::kShort;
    case DType::I8: return at::kChar;
    case DType::U8: return at::kByte;
    case DType::BOOL: return at::kBool;
  }
  throw Error(where + ": unsupported dtype");
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

void refuse_pickle(const fs::path& dir) {
  for (const char* name : {"pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth",
                           "consolidated.00.pth"}) {
    if (fs::exists(dir / name))
      throw Error((dir / name).string() +
                  ": pickle checkpoints are refused (loading them can run arbitrary code); convert the model to "
                  "safetensors, e.g. with transformers' save_pretrained(..., safe_serialization=True)");
  }
  throw Error(dir.string() + ": no model.safetensors or model.safetensors.index.json found");
}

}  // namespace

at::Tensor tensor_from_bytes(const TensorInfo& info, const uint8_t* data, at::ScalarType dtype, at::Device dev) {
  at::Tensor t = at::from_blob(const_cast<uint8_t*>(data), info.shape, to_scalar(info.dtype, info.name));
  // Copy out of the mapping: the file may be unmapped after loading.
  return t.to(dev, dtype, /*non_blocking=*/false, /*copy=*/true).contiguous();
}

WeightSource::WeightSource(const fs::path& dir) {
  std::vector<fs::path> shards;
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(dir / "model.safetensors")) {
    shards.push_back(dir / "model.safetensors");
  } else if (fs::exists(index)) {
    std::ifstream f(index);
    std::stringstream ss;
    ss << f.rdbuf();
    const std::vector<std::string> files = parse_safetensors_index(ss.str(), index.string());
    for (const auto& f : files) {
      if (!fs::exists(dir / f)) throw Error(index.string() + ": shard \"" + f + "\" is missing");
      shards.push_back(dir / f);
    }
  } else {
    refuse_pickle(dir);
  }
  for (const auto& p : shards) {
    files_.push_back(std::make_unique<SafetensorsFile>(p));
    const size_t fi = files_.size() - 1;
    for (const auto& t : files_.back()->tensors()) {
      if (where_.count(t.name))
        throw Error(p.string() + ": tensor \"" + t.name + "\" also appears in " + files_[where_[t.name].first]->path().string());
      where_[t.name] = {fi, &t};
    }
  }
}

const std::pair<size_t, const TensorInfo*>& WeightSource::locate(const std::string& name,
                                                                 const std::vector<int64_t>& shape) const {
  auto it = where_.find(name);
  if (it == where_.end()) {
    std::string file = files_.size() == 1 ? files_[0]->path().string() : "the model's safetensors shards";
    throw Error(file + ": missing tensor \"" + name + "\"");
  }
  used_.insert(name);
  const auto& [fi, info] = it->second;
  if (!shape.empty() && info->shape != shape)
    throw Error(files_[fi]->path().string() + ": tensor \"" + name + "\" has shape " + shape_str(info->shape) +
                ", expected " + shape_str(shape));
  if (info->dtype != DType::F32 && info->dtype != DType::F16 && info->dtype != DType::BF16 && info->dtype != DType::F64)
    throw Error(files_[fi]->path().string() + ": tensor \"" + name + "\" has dtype " + dtype_name(info->dtype) +
                "; weights must be F32, F16, BF16 or F64");
  return it->second;
}

at::Tensor WeightSource::get(const std::string& name, std::vector<int64_t> shape, at::ScalarType dtype,
                             at::Device dev) const {
  const auto& [fi, info] = locate(name, shape);
  at::Tensor t = tensor_from_bytes(*info, files_[fi]->data(*info), dtype, dev);
  files_[fi]->release(*info);  // the copy replaces the mapped bytes (no double residency while loading)
  return t;
}

at::Tensor WeightSource::view(const std::string& name, std::vector<int64_t> shape) const {
  const auto& [fi, info] = locate(name, shape);
  files_[fi]->will_need(*info);  // read ahead: the caller reads it whole, now
  return at::from_blob(const_cast<uint8_t*>(files_[fi]->data(*info)), info->shape, to_scalar(info->dtype, name));
}

void WeightSource::release(const std::string& name) const {
  auto it = where_.find(name);
  if (it != where_.end()) files_[it->second.first]->release(*it->second.second);
}

at::ScalarType WeightSource::dtype_of(const std::string& name) const {
  return to_scalar(locate(name, {}).second->dtype, name);
}

std::vector<std::string> WeightSource::unused() const {
  std::vector<std::string> out;
  for (const auto& [name, w] : where_)
    if (!used_.count(name)) out.push_back(name);
  return out;
}

std::string WeightSource::detect_prefix(const std::vector<std::string>& candidates, const std::string& probe) const {
  for (const auto& p : candidates)
    if (has(p + probe)) return p;
  std::string tried;
  for (const auto& p : candidates) tried += (tried.empty() ? "\"" : ", \"") + p + probe + "\"";
  throw Error((files_.size() == 1 ? files_[0]->path().string() : std::string("model shards")) +
              ": missing tensor (looked for " + tried + ")");
}

std::set<at::ScalarType> WeightSource::dtypes() const {
  std::set<at::ScalarType> out;
  for (const auto& [name, loc] : where_) out.insert(to_scalar(loc.second->dtype, name));
  return out;
}

std::vector<std::string> WeightSource::names() const {
  std::vector<std::string> out;
  for (const auto& [n, w] : where_) out.push_back(n);
  return out;
}

}  // namespace hl::engine
