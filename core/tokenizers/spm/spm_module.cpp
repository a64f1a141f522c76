// libheadlight_spm.so: SentencePiece behind a C interface (core/tokenizer_spm_abi.h). Built as a MODULE
// linked only against libsentencepiece so that its protobuf copy never meets libtorch's.
#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "../tokenizer_spm_abi.h"

struct hl_spm {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {

void set_error(char* err, size_t err_size, const std::string& msg) {
  if (!err || err_size == 0) return;
  const size_t n = std::min(msg.size(), err_size - 1);
  std::memcpy(err, msg.data(), n);
  err[n] = '\0';
}

// Protobuf wire-format reading, bounds-checked, for the one edit legacy=False needs.
bool read_varint(const std::string& s, size_t& pos, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= s.size()) return false;
    const auto b = static_cast<unsigned char>(s[pos++]);
    v |= uint64_t(b & 0x7F) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

void write_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

// Returns the ModelProto with normalizer_spec (field 3) extended by add_dummy_prefix (its field 3) = false:
// in protobuf the last occurrence of a scalar field wins, so appending overrides the stored value.
bool clear_dummy_prefix(const std::string& in, std::string& out, std::string& why) {
  out.clear();
  bool found = false;
  for (size_t pos = 0; pos < in.size();) {
    const size_t field_start = pos;
    uint64_t key;
    if (!read_varint(in, pos, key)) return why = "bad field key", false;
    const uint32_t wire = key & 7;
    const uint64_t field = key >> 3;
    if (wire == 0) {
      uint64_t v;
      if (!read_varint(in, pos, v)) return why = "bad varint", false;
    } else if (wire == 1) {
      pos += 8;
    } else if (wire == 5) {
      pos += 4;
    } else if (wire == 2) {
      uint64_t len;
      if (!read_varint(in, pos, len) || len > in.size() - pos) return why = "bad length", false;
      if (field == 3) {
        std::string spec = in.substr(pos, len);
        spec += '\x18';  // field 3, varint
        spec += '\x00';
        write_varint(out, key);
        write_varint(out, spec.size());
        out += spec;
        pos += len;
        found = true;
        continue;
      }
      pos += len;
    } else {
      return why = "unsupported wire type", false;
    }
    if (pos > in.size()) return why = "truncated field", false;
    out.append(in, field_start, pos - field_start);
  }
  if (!found) return why = "no normalizer_spec", false;
  return true;
}

}  // namespace

extern "C" {

int hl_spm_abi_version(void) { return HL_SPM_ABI_VERSION; }

hl_spm* hl_spm_load(const char* data, size_t size, int disable_dummy_prefix, char* err, size_t err_size) {
  try {
    std::string proto(data, size);
    if (disable_dummy_prefix) {
      std::string patched, why;
      if (!clear_dummy_prefix(proto, patched, why)) {
        set_error(err, err_size, "not a SentencePiece model (" + why + ")");
        return nullptr;
      }
      proto.swap(patched);
    }
    // Owned until returned: SentencePiece may throw from inside the load (caught below), and the half-loaded
    // processor must be freed then too.
    auto m = std::make_unique<hl_spm>();
    const auto status = m->sp.LoadFromSerializedProto(proto);
    if (!status.ok()) {
      set_error(err, err_size, status.ToString());
      return nullptr;
    }
    if (m->sp.GetPieceSize() <= 0) {
      set_error(err, err_size, "model has no pieces");
      return nullptr;
    }
    return m.release();
  } catch (const std::exception& e) {
    set_error(err, err_size, e.what());
  } catch (...) {
    set_error(err, err_size, "unknown error");
  }
  return nullptr;
}

void hl_spm_free(hl_spm* model) { delete model; }

int32_t hl_spm_vocab_size(const hl_spm* m) { return m->sp.GetPieceSize(); }
int32_t hl_spm_unk_id(const hl_spm* m) { return m->sp.unk_id(); }
int32_t hl_spm_bos_id(const hl_spm* m) { return m->sp.bos_id(); }
int32_t hl_spm_eos_id(const hl_spm* m) { return m->sp.eos_id(); }

const char* hl_spm_id_to_piece(const hl_spm* m, int32_t id, size_t* len) {
  if (id < 0 || id >= m->sp.GetPieceSize()) return nullptr;
  const std::string& p = m->sp.IdToPiece(id);
  *len = p.size();
  return p.c_str();
}

int32_t hl_spm_piece_to_id(const hl_spm* m, const char* piece, size_t len) {
  return m->sp.PieceToId(std::string_view(piece, len));
}

int hl_spm_is_control(const hl_spm* m, int32_t id) { return m->sp.IsControl(id) ? 1 : 0; }
int hl_spm_is_unknown(const hl_spm* m, int32_t id) { return m->sp.IsUnknown(id) ? 1 : 0; }
int hl_spm_is_byte(const hl_spm* m, int32_t id) { return m->sp.IsByte(id) ? 1 : 0; }

int hl_spm_encode(const hl_spm* m, const char* text, size_t len, hl_spm_piece** out, size_t* n, char* err,
                  size_t err_size) {
  *out = nullptr;
  *n = 0;
  try {
    sentencepiece::ImmutableSentencePieceText spt;
    const auto status = m->sp.Encode(std::string_view(text, len), spt.mutable_proto());
    if (!status.ok()) {
      set_error(err, err_size, status.ToString());
      return 0;
    }
    const size_t count = spt.pieces_size();
    auto* buf = static_cast<hl_spm_piece*>(std::malloc(sizeof(hl_spm_piece) * (count ? count : 1)));
    if (!buf) throw std::bad_alloc();
    for (size_t i = 0; i < count; ++i) {
      const auto p = spt.pieces(static_cast<int>(i));
      buf[i] = {static_cast<int32_t>(p.id()), p.begin(), p.end()};
    }
    *out = buf;
    *n = count;
    return 1;
  } catch (const std::exception& e) {
    set_error(err, err_size, e.what());
  } catch (...) {
    set_error(err, err_size, "unknown error");
  }
  return 0;
}

int hl_spm_decode_pieces(const hl_spm* m, const char* const* pieces, const size_t* lens, size_t n, char** out,
                         size_t* out_len, char* err, size_t err_size) {
  *out = nullptr;
  *out_len = 0;
  try {
    std::vector<std::string> ps;
    ps.reserve(n);
    for (size_t i = 0; i < n; ++i) ps.emplace_back(pieces[i], lens[i]);
    std::string text;
    const auto status = m->sp.Decode(ps, &text);
    if (!status.ok()) {
      set_error(err, err_size, status.ToString());
      return 0;
    }
    char* buf = static_cast<char*>(std::malloc(text.size() + 1));
    if (!buf) throw std::bad_alloc();
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    *out = buf;
    *out_len = text.size();
    return 1;
  } catch (const std::exception& e) {
    set_error(err, err_size, e.what());
  } catch (...) {
    set_error(err, err_size, "unknown error");
  }
  return 0;
}

void hl_spm_free_buffer(void* p) { std::free(p); }

}  // extern "C"
