// Bad model input: every defect gives a clear error naming the file, tensor or field. Nothing crashes.
#include <fstream>

#include "core/error.h"
#include "core/formats/safetensors.h"
#include "engine/golden.h"
#include "tests/scratch_dir.h"
#include "engine/doctest_torch.h"

using namespace hl;
using namespace hl::test;
namespace fs = std::filesystem;

namespace {


std::string read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void write(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << s;
}

// Copies the llama-gqa fixture, then lets `edit` break one thing.
std::string load_error(const std::function<void(const fs::path&)>& edit) {
  hl_test::ScratchDir d("badmodel");
  fs::copy_file(fixture("llama-gqa") / "config.json", d.dir / "config.json");
  fs::copy_file(fixture("llama-gqa") / "model.safetensors", d.dir / "model.safetensors");
  edit(d.dir);
  try {
    Model::load(d.dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "<loaded without error>";
}

// Rewrites model.safetensors with the tensors of the fixture, letting `change` edit the list.
void rewrite_weights(const fs::path& dir, const std::function<void(std::map<std::string, at::Tensor>&)>& change) {
  auto t = load_tensors(dir / "model.safetensors");
  change(t);
  std::vector<std::pair<std::string, at::Tensor>> v(t.begin(), t.end());
  save_tensors(dir / "model.safetensors", v);
}

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

}  // namespace

TEST_CASE("bad model directories give clear errors") {
  std::string e;
  e = load_error([](const fs::path& d) { fs::remove(d / "config.json"); });
  CHECK(contains(e, "config.json"));
  CHECK(contains(e, "missing"));

  e = load_error([](const fs::path& d) {
    rewrite_weights(d, [](auto& t) { t.erase("model.layers.2.mlp.up_proj.weight"); });
  });
  CHECK(contains(e, "missing tensor \"model.layers.2.mlp.up_proj.weight\""));

  e = load_error([](const fs::path& d) {
    rewrite_weights(d, [](auto& t) { t["model.layers.1.self_attn.k_proj.weight"] = at::zeros({16, 64}); });
  });
  CHECK(contains(e, "model.layers.1.self_attn.k_proj.weight"));
  CHECK(contains(e, "has shape [16, 64], expected [32, 64]"));

  e = load_error([](const fs::path& d) {
    std::string s = read(d / "model.safetensors");
    write(d / "model.safetensors", s.substr(0, s.size() / 2));
  });
  CHECK(contains(e, "model.safetensors"));
  CHECK(contains(e, "truncated"));

  e = load_error([](const fs::path& d) {
    std::string s = read(d / "model.safetensors");
    uint64_t n = s.size() + 100;
    for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>(n >> (8 * i));
    write(d / "model.safetensors", s);
  });
  CHECK(contains(e, "header length"));
  CHECK(contains(e, "larger than the file"));

  e = load_error([](const fs::path& d) {
    std::string s = read(d / "model.safetensors");
    s[8] = '#';  // the header's first byte is '{'
    write(d / "model.safetensors", s);
  });
  CHECK(contains(e, "header is not valid JSON"));

  e = load_error([](const fs::path& d) {
    rewrite_weights(d, [](auto& t) { t["model.norm.weight"] = at::ones({64}, at::kInt); });
  });
  CHECK(contains(e, "model.norm.weight"));
  CHECK(contains(e, "dtype I32"));

  e = load_error([](const fs::path& d) {
    std::string s = read(d / "model.safetensors");
    auto pos = s.find("\"F32\"");
    s.replace(pos, 5, "\"F8X\"");
    write(d / "model.safetensors", s);
  });
  CHECK(contains(e, "unsupported dtype \"F8X\""));

  e = load_error([](const fs::path& d) {
    fs::remove(d / "model.safetensors");
    write(d / "pytorch_model.bin", std::string("\x80\x02}q\x00.", 6));
  });
  CHECK(contains(e, "pytorch_model.bin"));
  CHECK(contains(e, "pickle checkpoints are refused"));
  CHECK(contains(e, "safetensors"));

  e = load_error([](const fs::path& d) {
    std::string s = read(d / "config.json");
    auto pos = s.find("\"llama\"");
    s.replace(pos, 7, "\"mamba\"");
    write(d / "config.json", s);
  });
  CHECK(contains(e, "unsupported model_type \"mamba\""));
  CHECK(contains(e, "llama, mistral, qwen2, gpt2, gptj, gpt_neox"));

  e = load_error([](const fs::path& d) { write(d / "config.json", "{\"model_type\": \"llama\", "); });
  CHECK(contains(e, "config.json"));
  CHECK(contains(e, "not valid JSON"));

  e = load_error([](const fs::path& d) {
    std::string s = read(d / "config.json");
    auto pos = s.find("\"num_key_value_heads\": 2");
    s.replace(pos, 24, "\"num_key_value_heads\": 3");
    write(d / "config.json", s);
  });
  CHECK(contains(e, "not a multiple of num_key_value_heads"));
}

TEST_CASE("pickle files are refused without being read as checkpoints") {
  hl_test::ScratchDir d("badmodel");
  write(d.dir / "model.pt", std::string("PK\x03\x04", 4) + std::string(100, '\0'));
  try {
    Model::load(d.dir / "model.pt");
    FAIL("loaded a .pt file");
  } catch (const Error& e) {
    CHECK(contains(e.what(), "pickle checkpoints are refused"));
  }
  try {
    Model::load(d.dir);
    FAIL("loaded a directory with only a .pt file");
  } catch (const Error& e) {
    CHECK(contains(e.what(), "model.pt"));
    CHECK(contains(e.what(), "pickle"));
  }
}

TEST_CASE("llama2.c checkpoint: truncated file and insane header") {
  hl_test::ScratchDir d("badmodel");
  std::string s = read(shared_dir() / "models/stories260K/stories260K.bin");
  write(d.dir / "trunc.bin", s.substr(0, s.size() - 1000));
  try {
    Model::load(d.dir / "trunc.bin");
    FAIL("loaded a truncated llama2.c file");
  } catch (const Error& e) {
    CHECK(contains(e.what(), "truncated"));
  }
  std::string h = s;
  int32_t bad = -7;
  std::memcpy(&h[0], &bad, 4);
  write(d.dir / "bad.bin", h);
  try {
    Model::load(d.dir / "bad.bin");
    FAIL("loaded a llama2.c file with dim = -7");
  } catch (const Error& e) {
    CHECK(contains(e.what(), "dim"));
  }
}
