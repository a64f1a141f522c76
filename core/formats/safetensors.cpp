#include "core/file_write.h"
#include "core/formats/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_limits.h"

namespace hl {

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::BOOL: return 1;
  }
  return 0;
}

DType parse_dtype(const std::string& s, const std::string& where) {
  static const std::pair<const char*, DType> names[] = {
      {"F64", DType::F64}, {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16},
      {"I64", DType::I64}, {"I32", DType::I32}, {"I16", DType::I16}, {"I8", DType::I8},
      {"U8", DType::U8},   {"BOOL", DType::BOOL}};
  for (const auto& [n, d] : names)
    if (s == n) return d;
  throw Error(where + ": unsupported dtype \"" + s + "\" (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

void parse_safetensors_header(const std::string& header_json, uint64_t data_size, const std::string& where,
                              std::vector<TensorInfo>* tensors, std::map<std::string, std::string>* metadata) {
  check_json_depth(header_json, where + ": header");
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(header_json);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": header is not valid JSON (" + std::string(e.what()) + ")");
  }
  if (!h.is_object()) throw Error(where + ": header is not a JSON object");
  tensors->clear();
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      if (!it->is_object()) throw Error(where + ": __metadata__ is not an object");
      if (metadata)
        for (auto m = it->begin(); m != it->end(); ++m)
          if (m->is_string()) (*metadata)[m.key()] = m->get<std::string>();
      continue;
    }
    const std::string tw = where + ": tensor \"" + name + "\"";
    const auto& v = *it;
    if (!v.is_object()) throw Error(tw + " entry is not an object");
    if (!v.contains("dtype") || !v["dtype"].is_string()) throw Error(tw + ": missing field \"dtype\"");
    if (!v.contains("shape") || !v["shape"].is_array()) throw Error(tw + ": missing field \"shape\"");
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      throw Error(tw + ": field \"data_offsets\" must be [begin, end]");
    TensorInfo t;
    t.name = name;
    t.dtype = parse_dtype(v["dtype"].get<std::string>(), tw);
    if (v["shape"].size() > 16) throw Error(tw + ": shape has more than 16 dimensions");
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) throw Error(tw + ": shape entries must be non-negative integers");
      uint64_t x = d.get<uint64_t>();
      if (x > (1ull << 40) || (x && numel > std::numeric_limits<uint64_t>::max() / x))
        throw Error(tw + ": shape is too large");
      numel *= x;
      t.shape.push_back(static_cast<int64_t>(x));
    }
    for (const auto& o : v["data_offsets"])
      if (!o.is_number_unsigned()) throw Error(tw + ": data_offsets must be non-negative integers");
    t.begin = v["data_offsets"][0].get<uint64_t>();
    t.end = v["data_offsets"][1].get<uint64_t>();
    if (t.end < t.begin) throw Error(tw + ": data_offsets end < begin");
    if (t.end > data_size)
      throw Error(tw + ": data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                  ") run past the end of the file (data section is " + std::to_string(data_size) +
                  " bytes; the file is truncated?)");
    if (numel > std::numeric_limits<uint64_t>::max() / 8 || numel * dtype_size(t.dtype) != t.end - t.begin)
      throw Error(tw + ": byte size " + std::to_string(t.end - t.begin) + " does not match shape x dtype (" +
                  std::to_string(numel) + " x " + std::to_string(dtype_size(t.dtype)) + ")");
    tensors->push_back(std::move(t));
  }
  // No two tensors may share bytes.
  std::vector<const TensorInfo*> sorted;
  for (const auto& t : *tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto a, auto b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i]->begin < sorted[i - 1]->end && sorted[i]->begin != sorted[i]->end)
      throw Error(where + ": tensors \"" + sorted[i - 1]->name + "\" and \"" + sorted[i]->name + "\" overlap");
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : path_(path) {
  const std::string where = path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(where + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(where + ": not a regular file");
  }
  map_size_ = static_cast<size_t>(st.st_size);
  if (map_size_ < 8) {
    ::close(fd);
    throw Error(where + ": file is " + std::to_string(map_size_) + " bytes, too short for a safetensors header");
  }
  map_ = ::mmap(nullptr, map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw Error(where + ": mmap failed (" + std::string(std::strerror(errno)) + ")");
  }
  const auto* bytes = static_cast<const uint8_t*>(map_);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  try {
    if (n > kMaxSafetensorsHeader)
      throw Error(where + ": header length " + std::to_string(n) + " exceeds the 100 MB limit");
    if (n > map_size_ - 8)
      throw Error(where + ": header length " + std::to_string(n) + " is larger than the file (" +
                  std::to_string(map_size_) + " bytes)");
    std::string header(reinterpret_cast<const char*>(bytes + 8), n);
    data_ = bytes + 8 + n;
    parse_safetensors_header(header, map_size_ - 8 - n, where, &tensors_, &metadata_);
  } catch (...) {
    ::munmap(map_, map_size_);
    map_ = nullptr;
    throw;
  }
  for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
}

void SafetensorsFile::release(const TensorInfo& t) const {
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(data_ + t.begin), end = reinterpret_cast<uintptr_t>(data_ + t.end);
  const uintptr_t first = (begin + page - 1) & ~(page - 1), last = end & ~(page - 1);
  // A read-only private file mapping: MADV_DONTNEED only unmaps; the bytes come back from the file if read again.
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

void SafetensorsFile::will_need(const TensorInfo& t) const {
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(data_ + t.begin) & ~(page - 1);
  const auto end = reinterpret_cast<uintptr_t>(data_ + t.end);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_WILLNEED);
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& SafetensorsFile::at(const std::string& name) const {
  const TensorInfo* t = find(name);
  if (!t) throw Error(path_.string() + ": missing tensor \"" + name + "\"");
  return *t;
}

void SafetensorsWriter::add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data,
                            size_t bytes) {
  Entry e{name, dtype, std::move(shape), {}};
  int64_t n = 1;
  for (auto d : e.shape) n *= d;
  if (static_cast<size_t>(n) * dtype_size(dtype) != bytes)
    throw Error("safetensors writer: tensor \"" + name + "\" has " + std::to_string(bytes) +
                " bytes but its shape needs " + std::to_string(n * dtype_size(dtype)));
  e.bytes.assign(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + bytes);
  entries_.push_back(std::move(e));
}

void SafetensorsWriter::add_f32(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v) {
  add(name, DType::F32, std::move(shape), v.data(), v.size() * sizeof(float));
}

void SafetensorsWriter::add_i64(const std::string& name, std::vector<int64_t> shape, const std::vector<int64_t>& v) {
  add(name, DType::I64, std::move(shape), v.data(), v.size() * sizeof(int64_t));
}

void SafetensorsWriter::write(const std::filesystem::path& path) const {
  nlohmann::json h = nlohmann::json::object();
  if (!metadata_.empty()) h["__metadata__"] = metadata_;
  uint64_t off = 0;
  for (const auto& e : entries_) {
    h[e.name] = {{"dtype", dtype_name(e.dtype)}, {"shape", e.shape}, {"data_offsets", {off, off + e.bytes.size()}}};
    off += e.bytes.size();
  }
  std::string header = h.dump();
  while (header.size() % 8) header.push_back(' ');
  write_file_atomic(path, [&](std::ostream& f) {
    uint64_t n = header.size();
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
    f.write(reinterpret_cast<const char*>(len), 8);
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& e : entries_) f.write(reinterpret_cast<const char*>(e.bytes.data()), e.bytes.size());
  });
}

}  // namespace hl
