// Locating and loading libheadlight_spm.so (the SentencePiece module) at run time.
#pragma once
#include <filesystem>

#include "core/tokenizers/tokenizer_spm_abi.h"

namespace hl::tok {

// Entry points of the loaded module.
struct SpmApi {
  decltype(&hl_spm_abi_version) abi_version;
  decltype(&hl_spm_load) load;
  decltype(&hl_spm_free) free_model;
  decltype(&hl_spm_vocab_size) vocab_size;
  decltype(&hl_spm_unk_id) unk_id;
  decltype(&hl_spm_bos_id) bos_id;
  decltype(&hl_spm_eos_id) eos_id;
  decltype(&hl_spm_id_to_piece) id_to_piece;
  decltype(&hl_spm_piece_to_id) piece_to_id;
  decltype(&hl_spm_is_control) is_control;
  decltype(&hl_spm_is_unknown) is_unknown;
  decltype(&hl_spm_is_byte) is_byte;
  decltype(&hl_spm_encode) encode;
  decltype(&hl_spm_decode_pieces) decode_pieces;
  decltype(&hl_spm_free_buffer) free_buffer;
};

// Finds the module (env HEADLIGHT_SPM_MODULE, then module_dir, the executable's directory, and
// <exe dir>/../lib) and loads it once per path; the handle stays open for the process lifetime.
// Throws hl::Error listing the places searched.
const SpmApi& spm_api(const std::filesystem::path& module_dir);

}  // namespace hl::tok
