// dlopen of the SentencePiece module. RTLD_DEEPBIND makes the module and libsentencepiece resolve their
// protobuf symbols against their own copy first, never libtorch's (see design.md, platform facts).
#include "core/tokenizers/tokenizer_spm_module.h"

#include <dlfcn.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"

#ifndef HEADLIGHT_SPM_MODULE_NAME
#define HEADLIGHT_SPM_MODULE_NAME "libheadlight_spm.so"
#endif

namespace hl::tok {
namespace {

std::filesystem::path executable_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe.parent_path();
}

std::filesystem::path find_module(const std::filesystem::path& module_dir) {
  std::error_code ec;
  if (const char* env = std::getenv("HEADLIGHT_SPM_MODULE"); env && *env) {
    if (!std::filesystem::is_regular_file(env, ec))
      throw Error(std::string("HEADLIGHT_SPM_MODULE=") + env + ": SentencePiece module not found");
    return env;
  }
  std::vector<std::filesystem::path> candidates;
  if (!module_dir.empty()) candidates.push_back(module_dir / HEADLIGHT_SPM_MODULE_NAME);
  const auto exe_dir = executable_dir();
  if (!exe_dir.empty()) {
    candidates.push_back(exe_dir / HEADLIGHT_SPM_MODULE_NAME);
    candidates.push_back(exe_dir.parent_path() / "lib" / HEADLIGHT_SPM_MODULE_NAME);
  }
  std::string searched;
  for (const auto& c : candidates) {
    if (std::filesystem::is_regular_file(c, ec)) return c;
    searched += (searched.empty() ? "" : ", ") + c.string();
  }
  throw Error(std::string("SentencePiece module ") + HEADLIGHT_SPM_MODULE_NAME + " not found (searched: " + searched +
              "); build the headlight_spm target or set HEADLIGHT_SPM_MODULE to its path");
}

template <typename Fn>
void resolve(void* handle, const std::filesystem::path& path, const char* name, Fn& out) {
  void* sym = dlsym(handle, name);
  if (!sym) throw Error(path.string() + ": SentencePiece module lacks symbol " + name);
  out = reinterpret_cast<Fn>(sym);
}

// Sanitizer runtimes refuse RTLD_DEEPBIND (they must interpose malloc and friends); sanitized builds are
// the torch-free test binaries, where there is no second protobuf to shield against.
// GCC announces sanitizers with __SANITIZE_*__ macros; clang (the fuzz build) only through __has_feature.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HL_SPM_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(HL_SPM_SANITIZED)
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL;
#else
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif

SpmApi open_module(const std::filesystem::path& path) {
  void* handle = dlopen(path.c_str(), kDlopenFlags);
  if (!handle) {
    const char* why = dlerror();
    throw Error(path.string() + ": cannot load SentencePiece module (" + (why ? why : "unknown error") + ")");
  }
  SpmApi api{};
  resolve(handle, path, "hl_spm_abi_version", api.abi_version);
  if (api.abi_version() != HL_SPM_ABI_VERSION)
    throw Error(path.string() + ": SentencePiece module has interface version " + std::to_string(api.abi_version()) +
                ", expected " + std::to_string(HL_SPM_ABI_VERSION) + " (rebuild headlight_spm)");
  resolve(handle, path, "hl_spm_load", api.load);
  resolve(handle, path, "hl_spm_free", api.free_model);
  resolve(handle, path, "hl_spm_vocab_size", api.vocab_size);
  resolve(handle, path, "hl_spm_unk_id", api.unk_id);
  resolve(handle, path, "hl_spm_bos_id", api.bos_id);
  resolve(handle, path, "hl_spm_eos_id", api.eos_id);
  resolve(handle, path, "hl_spm_id_to_piece", api.id_to_piece);
  resolve(handle, path, "hl_spm_piece_to_id", api.piece_to_id);
  resolve(handle, path, "hl_spm_is_control", api.is_control);
  resolve(handle, path, "hl_spm_is_unknown", api.is_unknown);
  resolve(handle, path, "hl_spm_is_byte", api.is_byte);
  resolve(handle, path, "hl_spm_encode", api.encode);
  resolve(handle, path, "hl_spm_decode_pieces", api.decode_pieces);
  resolve(handle, path, "hl_spm_free_buffer", api.free_buffer);
  return api;
}

}  // namespace

const SpmApi& spm_api(const std::filesystem::path& module_dir) {
  static std::mutex mutex;
  static std::map<std::string, SpmApi> loaded;  // never unloaded: tokenizers may outlive any owner
  const auto path = find_module(module_dir);
  std::lock_guard<std::mutex> lock(mutex);
  auto it = loaded.find(path.string());
  if (it == loaded.end()) it = loaded.emplace(path.string(), open_module(path)).first;
  return it->second;
}

}  // namespace hl::tok
