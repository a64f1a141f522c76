#include "core/file_write.h"
#include "analysis/fingerprint.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/fnv_hash.h"

namespace hl {
namespace {

void diff(const nlohmann::json& a, const nlohmann::json& b, const std::string& at, std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      const std::string key = at.empty() ? it.key() : at + "." + it.key();
      if (!b.contains(it.key())) out.push_back(key);
      else diff(*it, b[it.key()], key, out);
    }
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!a.contains(it.key())) out.push_back(at.empty() ? it.key() : at + "." + it.key());
    return;
  }
  if (a != b) out.push_back(at.empty() ? "(whole)" : at);
}

}  // namespace

std::vector<std::string> fingerprint_differences(const nlohmann::json& a, const nlohmann::json& b) {
  std::vector<std::string> out;
  diff(a, b, "", out);
  return out;
}

std::filesystem::path fingerprint_path(const std::filesystem::path& journal) {
  return journal.string() + ".fingerprint.json";
}

void bind_fingerprint(const std::filesystem::path& journal, const nlohmann::json& fingerprint, bool journal_has_results) {
  const std::filesystem::path fp = fingerprint_path(journal);
  std::error_code ec;
  if (std::filesystem::exists(fp, ec)) {
    std::ifstream in(fp, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const nlohmann::json stored = nlohmann::json::parse(ss.str(), nullptr, false);
    if (stored.is_discarded())
      throw Error(fp.string() + ": not valid JSON (the fingerprint of " + journal.string() + ")");
    const std::vector<std::string> d = fingerprint_differences(stored, fingerprint);
    if (d.empty()) return;
    if (!journal_has_results) {  // nothing to protect: the journal is empty, the file is rebound below
    } else {
      std::string fields;
      for (size_t i = 0; i < d.size() && i < 8; ++i) fields += (i ? ", " : "") + d[i];
      if (d.size() > 8) fields += ", ...";
      throw Error(journal.string() + ": holds results of another experiment (differs in: " + fields +
                  "); choose another output file, or delete it and its " + fp.filename().string() + " to start over");
    }
  } else if (journal_has_results) {
    throw Error(journal.string() + ": holds results but no fingerprint file " + fp.filename().string() +
                " (written by an older headlight?), so it cannot be resumed safely; choose another output file");
  }
  write_file_atomic(fp, fingerprint.dump(2) + "\n");
}

std::string bytes_fingerprint(const std::string& bytes) { return fnv1a_hex(bytes); }

std::string file_fingerprint(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(file.string() + ": cannot read (for the experiment fingerprint)");
  const auto size = static_cast<uint64_t>(std::filesystem::file_size(file));
  Fnv1a f;
  const std::string sz = std::to_string(size);
  f.add(sz.data(), sz.size());
  std::vector<char> buf(1 << 20);
  constexpr uint64_t kWhole = uint64_t(256) << 20;
  if (size <= kWhole) {
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0)
      f.add(buf.data(), static_cast<size_t>(in.gcount()));
  } else {
    for (int i = 0; i < 16; ++i) {
      const uint64_t at = (size - buf.size()) / 15 * static_cast<uint64_t>(i);
      in.seekg(static_cast<std::streamoff>(at));
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      f.add(buf.data(), static_cast<size_t>(in.gcount()));
    }
  }
  return f.hex();
}

}  // namespace hl
