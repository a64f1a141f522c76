// Needle-in-a-haystack prompts (methods.md §5): the haystack text, the needle insertion (gkamradt's token-space
// protocol, and GUIDE's character-space one as a compat mode), the prompt template, and the retrieval score.
// Torch-free: the tokenizer is a callback so tests can use a toy one.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/tokenizers/tokenizer.h"

namespace hl {

// Relative to the shared data directory (the CLI resolves it).
constexpr const char* kDefaultHaystackSubdir = "data/haystack/paul_graham_essays";

// Concatenates dir/*.txt sorted by file name. Throws hl::Error naming the directory if it is missing or holds no
// .txt file, or naming the file that cannot be read.
std::string load_haystack(const std::filesystem::path& dir);

struct NiahTexts {
  std::string needle = "\nThe best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.\n";
  std::string question = "What is the best thing to do in San Francisco?";
  std::string answer = "dolores";
};

// The prompt around the haystack: prefix + [question block] + context + [question block] + suffix. prefix and
// suffix carry a chat template's text when the caller wants one; "{question}" in the block is replaced.
struct NiahTemplate {
  std::string prefix;
  std::string question_block = "\n<question>\n{question}\n</question>\n\n";  // GUIDE's block
  bool question_before = true;
  bool question_after = true;
  std::string suffix;

  // The prompt text and the byte offset at which the context starts in it.
  std::string render(const std::string& context, const std::string& question, size_t* context_offset = nullptr) const;
};

enum class NiahInsertion {
  Tokens,      // gkamradt: token space, back to the previous sentence end, needle added (default)
  GuideChars,  // GUIDE compat: character space, back to a '.', which the needle replaces (the period is lost)
};

struct NiahPrompt {
  std::string text;                 // the whole prompt
  std::vector<int64_t> ids;         // text encoded by the callback
  int64_t needle_begin = 0, needle_end = 0;  // token span [begin, end) of the needle's non-blank text in ids
  size_t needle_byte_begin = 0, needle_byte_end = 0;  // that text's bytes in `text`
  double depth = 0;                 // requested depth, percent
  double realised_depth = 0;        // percent of the haystack (tokens or chars, per mode) before the needle
  int64_t haystack_length = 0;      // haystack kept: tokens (Tokens mode) or characters (GuideChars mode)
};

using EncodeFn = std::function<Encoding(const std::string&)>;

// Builds NIAH prompts over one haystack. The haystack is encoded once (and repeated when a length needs more).
class NiahBuilder {
 public:
  NiahBuilder(std::string haystack, NiahTexts texts, NiahTemplate tmpl, EncodeFn encode);

  // gkamradt: the haystack is cut to length − |needle| − |template| tokens, the needle goes in at
  // floor(len·depth/100) moved back to just after the nearest preceding sentence end ('.'), depth 100 appends.
  NiahPrompt build(int64_t length, double depth);
  // GUIDE compat (methods §5.2) on a given context text (e.g. a sentence-aligned chunk): p = int(chars·depth/100),
  // walk back to a '.', replace it with the needle; depth 100 appends. Python's character (code point) indexing.
  NiahPrompt build_guide_chars(const std::string& context, double depth) const;

  const NiahTexts& texts() const { return texts_; }
  const NiahTemplate& tmpl() const { return template_; }

 private:
  NiahPrompt finish(std::string context, size_t needle_at, double depth, double realised, int64_t kept) const;
  void ensure_haystack_tokens(int64_t min_tokens);

  std::string haystack_;
  std::string repeated_;  // haystack_ repeated as often as the longest request needed
  std::vector<std::pair<int64_t, int64_t>> spans_;  // byte spans of repeated_'s tokens (zero-width ones dropped)
  NiahTexts texts_;
  NiahTemplate template_;
  EncodeFn encode_;
};

enum class NiahScoring {
  Substring,  // the answer occurs in the response, case-insensitively (GUIDE's 'dolores' score)
  Exact,      // the response, trimmed of surrounding white space, equals the answer
};

// 1 or 0.
double score_niah_response(const std::string& response, const std::string& answer,
                           NiahScoring scoring = NiahScoring::Substring);

}  // namespace hl
