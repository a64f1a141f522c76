// C interface of libheadlight_spm.so, the module that holds every use of libsentencepiece (it cannot share
// a link with libtorch: both carry protobuf). hl_base loads it with dlopen and resolves these symbols;
// HL_SPM_ABI_VERSION guards against a stale module.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define HL_SPM_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hl_spm hl_spm;

typedef struct hl_spm_piece {
  int32_t id;
  uint32_t begin;  // UTF-8 byte span of the piece in the encoded text, as SentencePiece aligns it
  uint32_t end;
} hl_spm_piece;

int hl_spm_abi_version(void);
// Loads a serialized ModelProto. disable_dummy_prefix clears normalizer_spec.add_dummy_prefix (HF
// LlamaTokenizer legacy=False). Returns NULL and writes a message into err on failure.
hl_spm* hl_spm_load(const char* data, size_t size, int disable_dummy_prefix, char* err, size_t err_size);
void hl_spm_free(hl_spm* model);

int32_t hl_spm_vocab_size(const hl_spm* model);
int32_t hl_spm_unk_id(const hl_spm* model);
int32_t hl_spm_bos_id(const hl_spm* model);  // -1 if none
int32_t hl_spm_eos_id(const hl_spm* model);  // -1 if none
// Piece text of id (owned by the model); *len receives its byte length. NULL if id is out of range.
const char* hl_spm_id_to_piece(const hl_spm* model, int32_t id, size_t* len);
int32_t hl_spm_piece_to_id(const hl_spm* model, const char* piece, size_t len);
int hl_spm_is_control(const hl_spm* model, int32_t id);
int hl_spm_is_unknown(const hl_spm* model, int32_t id);
int hl_spm_is_byte(const hl_spm* model, int32_t id);

// Encodes text; *out receives a malloc'ed array of *n pieces (free with hl_spm_free_buffer).
int hl_spm_encode(const hl_spm* model, const char* text, size_t len, hl_spm_piece** out, size_t* n, char* err,
                  size_t err_size);
// Decodes piece strings (SentencePieceProcessor::Decode on pieces); *out is malloc'ed, NUL-terminated.
int hl_spm_decode_pieces(const hl_spm* model, const char* const* pieces, const size_t* lens, size_t n, char** out,
                         size_t* out_len, char* err, size_t err_size);
void hl_spm_free_buffer(void* p);

#ifdef __cplusplus
}
#endif
