// Trains the model organism (issue #23): a small Llama (HF conventions: RMSNorm, rotate_half RoPE, SwiGLU) on the
// curriculum, with libtorch autograd on the CPU (or the given device), AdamW with a cosine schedule and gradient
// clipping. Each step's batch is a pure function of (seed, step), so a resumed run continues exactly where the
// checkpoint left it; the result is deterministic for a seed and thread count. Writes an HF-style directory that
// headlight (and HF transformers) loads: config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
// organism.json (how it was made). The header is torch-free.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "analysis/organism/curriculum.h"
#include "core/job.h"

namespace hl::organism {

struct TrainConfig {
  uint64_t seed = 1;
  // Model shape.
  int64_t hidden = 128, layers = 4, heads = 8, intermediate = 384, context = 512;
  // RoPE base: a head's q/k dimensions that rotate slowly over the context are the ones that can match content at any
  // distance; a larger base makes more of them slow.
  double rope_theta = 10000.0;
  // Llama 3's RoPE scaling with this factor (1 = none): the frequencies whose wavelength exceeds the original length
  // (below) are divided by it, those under a quarter of it kept, the ones between blended (HF's "llama3" rope type
  // with low_freq_factor 1, high_freq_factor 4). Fast pairs stay for finding a neighbour by its offset; the slow ones
  // barely turn over the whole context, so content can match at any distance.
  double rope_llama3_factor = 1.0;
  // Its original_max_position_embeddings (0 = the context): pairs turning within a quarter of it are kept.
  int64_t rope_llama3_original = 0;
  // Optimisation.
  int64_t steps = 3000;
  int64_t batch_tokens = 8192;  // per step; sequences per step = batch_tokens / sequence length
  double lr = 3e-3, min_lr_ratio = 0.1, weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, clip = 1.0;
  int64_t warmup = 100;
  // Whether AdamW's weight decay also shrinks the input embeddings (it always does the other matrices, never the norms).
  // Without it, the parts of a rarely seen entity's embedding that tell it from the others are not decayed away
  // between the passages that mention it.
  bool embedding_decay = true;
  // The standard deviation of every matrix at initialisation (the residual outputs o_proj and down_proj get it over
  // sqrt(2 * layers)).
  double init_std = 0.02;
  int64_t checkpoint_every = 250;
  // Curriculum: document mix (curriculum.h) and the share of steps at 128 and 256 tokens (the rest at the context).
  double mix_fact = 0.25, mix_recall = 0.25, mix_passage = 0.5;
  double mix_repeat = 0.0;     // CurriculumMix::repeat
  double fact_override = 0.0;  // CurriculumMix::fact_override
  double update = 0.0;         // CurriculumMix::update
  int64_t conflict_from = 0;   // fact_override and update apply from this step on (before it: neither)
  double context_weight = 1.0; // CurriculumMix::context_weight
  double same_attribute = 0.0; // CurriculumMix::same_attribute
  bool ask_with_replacement = false;  // CurriculumMix::ask_with_replacement
  int64_t same_attribute_until = 0;  // before this step every recall document and passage has one attribute (share 1)
  // Attention supervision: the weight of an auxiliary loss, -log of the attention that one head (supervised_layer,
  // -1 = the last; supervised_head) pays from each in-context answer's position to the value of the statement that
  // answers it (Doc::links), averaged over the answers, added to the language-model loss. 0 (the default) trains
  // without it. It installs a retrieval head where the profiler and the ablation test can check it, and gives the
  // match between the question's entity and the statement's entity a gradient of its own.
  // supervised_heads > 1 supervises that many heads from supervised_head on, each along the same links.
  double attention_supervision = 0.0;
  int64_t supervised_layer = -1, supervised_head = 0, supervised_heads = 1;
  // Copy supervision: the weight of an auxiliary loss on what the supervised heads write at each in-context answer's
  // position: the cross-entropy of the answer under that write alone (through the head's columns of o_proj, the final
  // norm and lm_head). A head that attends to the value but writes nothing leaves the answer at chance among the
  // attribute's values; the write is a product of two small matrices (v_proj, o_proj) whose gradients start near zero,
  // so the language-model loss alone is slow to grow it. 0 (the default) trains without it.
  double copy_supervision = 0.0;
  double share_128 = 0.35, share_256 = 0.35;
  // The world: entities the weights know, and entities only ever described in context.
  int64_t fact_entities = 96, passage_entities = 384;
  int64_t attributes = 6;  // WorldShape::attributes
  Form form = Form::EntityFirst;  // how statements and questions are worded (recorded by name)
  std::string device = "cpu";
};

// The layer whose heads the attention supervision trains: supervised_layer, the last layer for -1.
inline int64_t supervised_layer_index(const TrainConfig& c) { return c.supervised_layer < 0 ? c.layers - 1 : c.supervised_layer; }

// The config's numeric and true/false fields, in organism.json's order: the JSON writer and reader and the CLI
// (flag = the key with '-' for '_') all walk this table, so an option is one line here. Not in it: seed (unsigned),
// form (a name) and device (not recorded).
struct TrainField {
  const char* key;
  enum Kind { Int, Real, Bool } kind;
  // In every organism.json (the first organisms' fields); the others read as their default when absent, which is
  // what a run made before they existed trained with.
  bool required;
  int64_t TrainConfig::*i;
  double TrainConfig::*r;
  bool TrainConfig::*b;
};
const std::vector<TrainField>& train_fields();

struct TrainProgress {
  int64_t step = 0, steps = 0;
  double loss = 0;          // mean weighted loss of the last reporting window
  double answer_loss = 0;   // loss on in-context answers only (the retrieval the organism must learn)
  // -log of the attention the supervised head (TrainConfig::supervised_layer, supervised_head) pays along the
  // retrieval links, averaged: what the attention supervision trains down; measured with it off as well.
  double attention_loss = 0;
  // The supervised heads' copy loss (TrainConfig::copy_supervision), measured with it off as well.
  double copy_loss = 0;
  double tokens_per_s = 0;
  double elapsed_s = 0, eta_s = -1;
  double lr = 0;
};

using TrainProgressFn = std::function<void(const TrainProgress&)>;

// Trains into out_dir (created); resumes from out_dir/checkpoint.safetensors when it exists and was made with the
// same config (else hl::Error naming what differs). Throws hl::Cancelled when `cancel` fires (after checkpointing).
void train(const TrainConfig& cfg, const std::filesystem::path& out_dir, const TrainProgressFn& progress,
           const CancelToken* cancel = nullptr, int64_t report_every = 25);

// The config as canonical JSON (recorded in organism.json and checked on resume), and back (hl::Error naming the
// field when one is missing or mistyped).
std::string train_config_json(const TrainConfig& cfg);
TrainConfig train_config_from_json(const std::string& json, const std::string& where);
// The config recorded in an organism directory's organism.json (hl::Error naming the file otherwise).
TrainConfig organism_config(const std::filesystem::path& dir);
// The world (vocabulary, fact table, wording) a config trains on.
World organism_world(const TrainConfig& cfg);

// The training code's own forward over `ids` (one sequence, no BOS added) with the weights of an organism directory:
// logits [T, V] row-major. The engine must agree with it (tests/engine/test_organism.cpp).
std::vector<float> training_forward_logits(const std::filesystem::path& dir, const std::vector<int64_t>& ids);

}  // namespace hl::organism
