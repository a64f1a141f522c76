#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <chrono>
#include <fstream>

#include "core/engine/packed_linear.h"
#include "core/engine/load.h"
#include "core/engine/model.h"
#include "core/error.h"

namespace hl {
namespace fs = std::filesystem;

namespace {

at::Device parse_device(const std::string& s) {
  if (s == "cpu") return at::Device(at::kCPU);
  if (s.rfind("cuda", 0) == 0) {
    if (!at::hasCUDA())
      throw Error("--device " + s + ": this libtorch build has no CUDA support (or no GPU is visible)");
    try {
      return at::Device(s);
    } catch (const std::exception&) {
      throw Error("--device " + s + ": not a valid device (use cpu, cuda or cuda:N)");
    }
  }
  throw Error("--device " + s + ": unknown device (use cpu, cuda or cuda:N)");
}

at::ScalarType parse_compute_dtype(const std::string& s) {
  if (s == "auto") return at::kFloat;
  if (s == "f32" || s == "float32") return at::kFloat;
  if (s == "bf16" || s == "bfloat16") return at::kBFloat16;
  if (s == "f16" || s == "float16") return at::kHalf;
  throw Error("--dtype " + s + ": unknown dtype (use auto, f32, bf16 or f16)");
}

// A pickle file starts with the protocol opcode 0x80; torch.save's zip container with "PK".
bool looks_like_pickle(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  unsigned char b[2] = {0, 0};
  f.read(reinterpret_cast<char*>(b), 2);
  return (b[0] == 0x80 && b[1] <= 5) || (b[0] == 'P' && b[1] == 'K');
}

std::unique_ptr<Tokenizer> find_tokenizer(const fs::path& dir, const TokenizerOptions& opt) {
  for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer.bin", "tok512.bin", "tok512.model"})
    if (fs::exists(dir / name)) return load_tokenizer(dir, opt);
  if (fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt")) return load_tokenizer(dir, opt);
  return nullptr;
}

// A folder that is not an HF directory but holds exactly one model: an `hf/` subfolder with config.json, or one
// llama2.c `.bin` (as ../shared/models/stories260K holds both: the HF copy is preferred, it carries its tokenizer).
fs::path find_model_in_folder(const fs::path& dir) {
  if (fs::exists(dir / "hf" / "config.json")) return dir / "hf";
  std::vector<fs::path> bins;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".bin" && e.path().filename() != "pytorch_model.bin" &&
        e.path().filename().string().rfind("tok", 0) != 0)
      bins.push_back(e.path());
  if (bins.size() == 1) return bins.front();
  return {};
}

// Counts load units and reports them; throws Cancelled between units when asked to.
class LoadProgress {
 public:
  LoadProgress(const LoadOptions& opt, int64_t total) : opt_(opt), t0_(std::chrono::steady_clock::now()) {
    p_.total = total;
  }
  void check() const {
    if (opt_.cancel && opt_.cancel->cancelled()) throw Cancelled();
  }
  // last: the final unit (units that did not apply, e.g. packing on a non-AVX2 CPU, count as done).
  void step(std::string what, bool last = false) {
    check();
    p_.done = last ? p_.total : p_.done + 1;
    p_.what = std::move(what);
    p_.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    p_.eta_s = p_.done > 0 && p_.total > p_.done ? p_.elapsed_s / p_.done * (p_.total - p_.done) : 0;
    if (opt_.progress) opt_.progress(p_);
  }

 private:
  const LoadOptions& opt_;
  std::chrono::steady_clock::time_point t0_;
  Progress p_;
};

}  // namespace

std::unique_ptr<Model> Model::load(const fs::path& path, const LoadOptions& opt) {
  const at::Device dev = parse_device(opt.device);
  const at::ScalarType dtype = parse_compute_dtype(opt.dtype);
  if (!fs::exists(path)) throw Error(path.string() + ": no such file or directory");
  if (fs::is_directory(path) && !fs::exists(path / "config.json")) {
    const fs::path inner = find_model_in_folder(path);
    if (!inner.empty()) return load(inner, opt);
  }
  std::unique_ptr<Model> m;
  fs::path tok_dir;
  std::unique_ptr<LoadProgress> progress;
  if (fs::is_directory(path)) {
    const fs::path cfg_path = path / "config.json";
    if (!fs::exists(cfg_path)) {
      for (auto ext : {".pt", ".pth", ".ckpt"})
        for (const auto& e : fs::directory_iterator(path))
          if (e.path().extension() == ext)
            throw Error(e.path().string() + ": pickle checkpoints are refused (loading them can run arbitrary code); "
                        "convert the model to safetensors");
      throw Error(cfg_path.string() + ": missing config.json (not an HF model directory, and no hf/ folder or "
                  "single llama2.c .bin inside)");
    }
    ModelConfig cfg = load_model_config(cfg_path);
    // CPU float32 with the packed kernels: each layer is packed as it is read (one load unit a layer). Every kernel
    // family packs, the portable one too: a packed product sums each output in one order whatever the number of
    // rows, so a position's logits (and a profiled head's score) do not depend on the batch it ran in. The BLAS
    // sums in an order that depends on the row count (OpenBLAS's kernels differ by 1e-6 between shapes).
    const bool pack_now = dtype == at::kFloat && dev.is_cpu() && opt.pack_weights;
    progress = std::make_unique<LoadProgress>(opt, (pack_now ? 1 : 2) * cfg.n_layers + 2);
    progress->step("config");
    // 16-bit projections only where they will be packed: every other path computes on float32 weights.
    const bool keep_16bit = opt.dtype == "auto" && pack_now;
    ModelWeights w = engine::load_hf_weights(
        path, cfg, dtype, dev,
        [&](int64_t l) {
          progress->step((pack_now ? "weights and packing of layer " : "weights of layer ") + std::to_string(l));
        },
        keep_16bit, pack_now);
    m = std::make_unique<Model>(std::move(cfg), std::move(w), dev, dtype);
    tok_dir = path;
  } else {
    const std::string ext = path.extension().string();
    if (ext == ".pt" || ext == ".pth" || ext == ".ckpt" || path.filename() == "pytorch_model.bin" || looks_like_pickle(path))
      throw Error(path.string() + ": pickle checkpoints are refused (loading them can run arbitrary code); convert the "
                  "model to safetensors");
    if (ext == ".safetensors") return load(path.parent_path(), opt);
    auto [cfg, w] = engine::load_llama2c(path, dtype, dev);
    progress = std::make_unique<LoadProgress>(opt, cfg.n_layers + 2);
    progress->step("weights");
    m = std::make_unique<Model>(std::move(cfg), std::move(w), dev, dtype);
    tok_dir = path.parent_path();
  }
  m->source_ = path;
  if (opt.pack_weights) m->pack_weights([&](int64_t l) { progress->step("packing layer " + std::to_string(l)); });
  if (opt.load_tokenizer) m->set_tokenizer(find_tokenizer(tok_dir, opt.tokenizer));
  progress->step("tokenizer", true);
  return m;
}

}  // namespace hl
