// Reads named tensors from one or more safetensors files (single file or sharded with an index) and converts
// them to the compute dtype on the model's device, checking every shape. Internal to core/engine.
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "core/formats/safetensors.h"

namespace hl::engine {

class WeightSource {
 public:
  // dir: an HF model directory. Throws hl::Error for missing files, a bad index, or pickle-only checkpoints.
  explicit WeightSource(const std::filesystem::path& dir);

  bool has(const std::string& name) const { return where_.count(name) != 0; }
  // The tensor `name`, which must have `shape` (empty = any); converted to dtype on device.
  at::Tensor get(const std::string& name, std::vector<int64_t> shape, at::ScalarType dtype, at::Device dev) const;
  // The tensor `name` in its stored dtype, read in place: a view of the mapped file, valid while this source lives,
  // no copy. Checked as get() checks it. A caller that is done with it calls release(name).
  at::Tensor view(const std::string& name, std::vector<int64_t> shape) const;
  // Drops the mapped pages of `name` from this process (see SafetensorsFile::release).
  void release(const std::string& name) const;
  // The stored dtype of `name` (which must exist).
  at::ScalarType dtype_of(const std::string& name) const;
  // Prefix of the checkpoint's names among candidates ("model.", "transformer.", ""), found by probing `probe`.
  std::string detect_prefix(const std::vector<std::string>& candidates, const std::string& probe) const;
  std::vector<std::string> names() const;
  // The dtypes the checkpoint's tensors are stored in.
  std::set<at::ScalarType> dtypes() const;
  // Tensors no get() has read (a loader checks them: weights the config does not use are an error).
  std::vector<std::string> unused() const;

 private:
  // The file and entry of `name`, checked: present, of `shape` (empty = any), a floating-point dtype; marks it used.
  const std::pair<size_t, const TensorInfo*>& locate(const std::string& name, const std::vector<int64_t>& shape) const;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<size_t, const TensorInfo*>> where_;
  mutable std::set<std::string> used_;
};

// Converts a tensor read from disk to an owned tensor of dtype on device.
at::Tensor tensor_from_bytes(const TensorInfo& info, const uint8_t* data, at::ScalarType dtype, at::Device dev);

}  // namespace hl::engine
