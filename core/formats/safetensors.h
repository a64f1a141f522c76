// The safetensors format: reading (mmap, bounds-checked header) and writing. Torch-free.
// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__": {...}},
// then the raw little-endian tensor bytes; offsets are relative to the end of the header.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hl {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType d);
size_t dtype_size(DType d);
// Throws hl::Error naming `where` for an unknown dtype string.
DType parse_dtype(const std::string& s, const std::string& where);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets relative to the data section
  int64_t numel() const;
};

// Limits a hostile file cannot exceed.
constexpr uint64_t kMaxSafetensorsHeader = 100ull * 1024 * 1024;

class SafetensorsFile {
 public:
  // Maps the file read-only and validates the header: JSON, known dtypes, offsets inside the file and
  // consistent with shape x dtype size, no overlapping tensors. Throws hl::Error naming the file and tensor.
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  const TensorInfo& at(const std::string& name) const;  // throws naming the file and tensor
  const uint8_t* data(const TensorInfo& t) const { return data_ + t.begin; }
  // Drops the mapped pages that lie wholly inside tensor t from this process (they stay in the page cache; a
  // later read maps them again): a loader that has copied t out calls it, so that a model is not resident
  // twice (map and copies) while it loads.
  void release(const TensorInfo& t) const;
  // Asks the kernel to read tensor t's pages ahead (MADV_WILLNEED): a loader about to read it whole calls it.
  void will_need(const TensorInfo& t) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::filesystem::path path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Parses a header JSON (the N bytes after the length prefix) against a data section of data_size bytes.
// Exposed for the fuzz targets; SafetensorsFile uses it.
void parse_safetensors_header(const std::string& header_json, uint64_t data_size, const std::string& where,
                              std::vector<TensorInfo>* tensors, std::map<std::string, std::string>* metadata);

// Writes tensors to a .safetensors file (header padded to 8 bytes, tensors in the given order).
// Writes to a temporary file and renames it into place, so a crash never leaves a half-written file.
class SafetensorsWriter {
 public:
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data, size_t bytes);
  void add_f32(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v);
  void add_i64(const std::string& name, std::vector<int64_t> shape, const std::vector<int64_t>& v);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  void write(const std::filesystem::path& path) const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace hl
