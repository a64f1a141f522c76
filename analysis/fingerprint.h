// Experiment fingerprints: a JSON object of everything that determines a resumable job's results (model identity,
// steering, data hashes, sampling, result-format version). A journal or job written under one fingerprint is never
// resumed under another: the mismatch is refused with the fields that differ. Torch-free.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hl {

// Dotted paths of the fields where a and b differ ("model.weights", "steering.heads"); empty when equal.
std::vector<std::string> fingerprint_differences(const nlohmann::json& a, const nlohmann::json& b);

// The fingerprint file of a journal, next to it: "<journal>.fingerprint.json".
std::filesystem::path fingerprint_path(const std::filesystem::path& journal);

// Binds `journal` to `fingerprint`: writes the fingerprint file when the journal holds no results yet
// (`journal_has_results` false), else checks it. Throws hl::Error naming the journal and the differing fields, or
// saying that a journal with results has no fingerprint file.
void bind_fingerprint(const std::filesystem::path& journal, const nlohmann::json& fingerprint, bool journal_has_results);

// A content hash of a file for fingerprints: every byte of files up to 256 MiB; of larger ones (multi-GB weights) the
// size and 16 evenly spaced 1 MiB windows, enough to tell checkpoints apart without reading 13 GB.
std::string file_fingerprint(const std::filesystem::path& file);
// 64-bit FNV-1a of bytes, 16 hex digits.
std::string bytes_fingerprint(const std::string& bytes);

}  // namespace hl
