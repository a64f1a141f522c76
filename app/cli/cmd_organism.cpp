// organism: the model headlight trains itself (issue #23).
//   organism train --seed S --out DIR     train (resumes from DIR/checkpoint.safetensors), write an HF directory
//   organism eval  --model DIR [--json]   the figures on held-out sets
//   organism data  --out DIR              the curriculum's task suites and haystack as files
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "analysis/organism/curriculum.h"
#include "workbench/organism_eval.h"
#include "analysis/organism/train.h"
#include "app/cli/commands.h"
#include "app/cli/model_args.h"
#include "core/error.h"

namespace hl::cli {
namespace {

int organism_train(const Args& a) {
  set_threads(a);
  organism::TrainConfig c;
  c.seed = static_cast<uint64_t>(a.get_int("seed", 1));
  // Every numeric field of the config whose flag the command takes (the key with '-' for '_'); the two flags that
  // switch a default off or on stand apart.
  for (const organism::TrainField& f : organism::train_fields()) {
    std::string flag = f.key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    if (f.kind == organism::TrainField::Int) c.*f.i = a.get_int(flag, c.*f.i);
    if (f.kind == organism::TrainField::Real) c.*f.r = a.get_double(flag, c.*f.r);
  }
  c.warmup = std::min(c.warmup, c.steps);
  if (a.has("no-embedding-decay")) c.embedding_decay = false;
  if (a.has("ask-with-replacement")) c.ask_with_replacement = true;
  c.form = organism::form_from_name(a.get("form", organism::form_name(c.form)));
  c.device = a.get("device", "cpu");
  const bool json = a.has("json");
  organism::train(c, a.get("out"), [&](const organism::TrainProgress& p) {
    if (json) {
      nlohmann::json j = {{"step", p.step}, {"steps", p.steps}, {"loss", p.loss}, {"answer_loss", p.answer_loss},
                          {"attention_loss", p.attention_loss}, {"copy_loss", p.copy_loss},
                          {"tokens_per_s", p.tokens_per_s}, {"elapsed_s", p.elapsed_s}, {"eta_s", p.eta_s}, {"lr", p.lr}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      char att[80] = "";
      if (c.attention_supervision > 0 || c.copy_supervision > 0)
        std::snprintf(att, sizeof att, "  attention loss %.4f  copy loss %.4f", p.attention_loss, p.copy_loss);
      std::printf("step %6lld/%lld  loss %.4f  retrieval loss %.4f%s  %7.0f tok/s  lr %.2e  elapsed %5.0fs  eta %5.0fs\n",
                  static_cast<long long>(p.step), static_cast<long long>(p.steps), p.loss, p.answer_loss, att,
                  p.tokens_per_s, p.lr, p.elapsed_s, p.eta_s);
    }
    std::fflush(stdout);
  }, &interrupted());
  std::fprintf(stderr, "organism: wrote %s\n", a.get("out").c_str());
  return 0;
}

int organism_eval(const Args& a) {
  set_threads(a);
  organism::EvalOptions o;
  o.model_dir = a.get("model");
  o.items = a.get_int("items", o.items);
  o.seed = static_cast<uint64_t>(a.get_int("eval-seed", static_cast<long long>(o.seed)));
  o.device = a.get("device", "cpu");
  const auto r = organism::evaluate(o, &interrupted(), [](const std::string& what) {
    std::fprintf(stderr, "organism eval: %s\n", what.c_str());
  });
  if (a.has("json")) {
    std::printf("%s\n", r.dump(2).c_str());
  } else {
    std::printf("%s\n", organism::eval_report_text(r).c_str());
  }
  return 0;
}

int organism_data(const Args& a) {
  organism::write_data_files(a.get("model"), a.get("out"), a.get_int("items", 200));
  std::printf("wrote %s\n", a.get("out").c_str());
  return 0;
}

int cmd_organism(const Args& a) {
  const auto& pos = a.positional();
  const std::string action = pos.empty() ? "" : pos[0];
  if (action == "train") return organism_train(a);
  if (action == "eval") return organism_eval(a);
  if (action == "data") return organism_data(a);
  throw Error("organism: give an action: train, eval or data (got '" + action + "')");
}

RegisterCommand reg(
    "organism", "the model headlight trains itself: train, eval (held-out figures), data (suites + haystack)",
    {integer("seed", "S", "train: curriculum and initialisation seed (default 1)", 0),
     integer("steps", "N", "train: optimiser steps (default 3000)", 1, 10000000),
     integer("hidden", "N", "train: model width (default 128)", 8, 8192),
     integer("layers", "N", "train: layers (default 4)", 1, 256),
     integer("heads", "N", "train: attention heads (default 8)", 1, 256),
     integer("intermediate", "N", "train: MLP width (default 384)", 8, 65536),
     integer("context", "N", "train: context length (default 512)", 128, 65536),
     real("rope-theta", "X", "train: RoPE base (default 10000); larger leaves more of each head's dimensions for matching content far apart", 2, 1e12),
     real("rope-llama3-factor", "F", "train: Llama 3's RoPE scaling: frequencies slower than one turn over the original length (--rope-llama3-original, default the context) divided by F, those faster than four turns kept, the ones between blended (default 1 = off)", 1, 1e6),
     integer("rope-llama3-original", "N", "train: with --rope-llama3-factor, the length whose quarter and whole bound the kept and the scaled frequencies (default: the context)", 16, 1 << 24),
     integer("batch-tokens", "N", "train: tokens per step (default 8192)", 128, 1 << 24),
     real("lr", "X", "train: peak learning rate (default 3e-3)", 1e-6, 1),
     real("init-std", "X", "train: standard deviation of the matrices at initialisation (default 0.02; the residual outputs get it over sqrt(2 x layers))", 1e-4, 1),
     real("weight-decay", "X", "train: AdamW's decoupled weight decay of every matrix, embeddings included (default 0.1)", 0, 1),
     flag("no-embedding-decay", "train: leave the input embeddings out of the weight decay (the other matrices keep it)"),
     integer("warmup", "N", "train: warm-up steps (default 100)", 0),
     real("mix-fact", "X", "train: share of fact drills (default 0.25)", 0, 1),
     real("mix-recall", "X", "train: share of dense recall documents (default 0.25)", 0, 1),
     real("mix-passage", "X", "train: share of retrieval passages (default 0.5)", 0, 1),
     real("mix-repeat", "X", "train: share of entity-repetition documents, names then the same names again (default 0)", 0, 1),
     integer("fact-entities", "N", "train: entities whose facts the weights learn (default 96)", 1, 100000),
     integer("passage-entities", "N", "train: entities only described in context (default 384)", 16, 100000),
     integer("attributes", "N", "train: attributes the world has, 12 values each (default 6, at most 18)", 1, organism::kMaxAttributes),
     real("fact-override", "X", "train: share of passage statements about known entities that give another value (default 0)", 0, 1),
     real("update", "X", "train: share of passage-entity statements a later sentence updates with another value; the question asks for the latest (default 0)", 0, 1),
     integer("conflict-from", "N", "train: the step from which --fact-override and --update apply (default 0: from the start)", 0),
     real("context-weight", "X", "train: loss weight of a passage's filler and statements; answers weigh 5 (default 1)", 0, 1),
     real("same-attribute", "X", "train: share of recall documents and passages whose statements share one attribute, so only the entity tells them apart (default 0)", 0, 1),
     flag("ask-with-replacement", "train: draw the questions after a recall document or passage with replacement, so that the last ones cannot be answered by elimination"),
     integer("same-attribute-until", "N", "train: before step N every recall document and passage has one attribute, so retrieval must tell statements apart by their entity from the start (default 0)", 0),
     real("attention-supervision", "X", "train: weight of an auxiliary loss that teaches one head (--supervised-layer, --supervised-head) to attend from each in-context answer's position to the value of the statement that answers it (default 0: off)", 0, 100),
     integer("supervised-layer", "N", "train: the layer of the supervised head (default -1: the last)", -1, 255),
     integer("supervised-head", "N", "train: the supervised head within its layer (default 0)", 0, 255),
     integer("supervised-heads", "N", "train: supervise N heads from --supervised-head on, each along the same links (default 1)", 1, 256),
     real("copy-supervision", "X", "train: weight of an auxiliary loss that teaches the supervised heads to write the value they attend to: the cross-entropy of each in-context answer under the heads' own output alone (default 0: off)", 0, 100),
     real("share-128", "X", "train: share of steps at 128 tokens (default 0.35)", 0, 1),
     real("share-256", "X", "train: share of steps at 256 tokens (default 0.35; the rest at the context)", 0, 1),
     text("form", "NAME", "train: how facts are worded: entity-first (default; 'zorano color is teal .', 'zorano color ?'), attribute-first ('color of zorano is teal .', 'color of zorano ?') value-first ('teal is color of zorano .', '? color of zorano'), cloze ('color of zorano teal .', '? color of zorano') or entity-first-is ('zorano color is teal .', 'zorano color is ?')"),
     text("out", "DIR", "train: output model directory (resumes when it holds a checkpoint); data: output folder"),
     text("model", "DIR", "eval, data: the organism's directory"),
     text("device", "DEV", "cpu (default) or cuda"),
     integer("items", "N", "eval: held-out items per figure (default 200); data: examples per suite", 1, 100000),
     integer("eval-seed", "S", "eval: seed of the held-out sets (default 7)", 0),
     integer("threads", "N", "compute threads (default: all cores)", 0),
     flag("json", "train: progress as JSON lines; eval: the figures as JSON")},
    cmd_organism, {"ACTION"});

}  // namespace
}  // namespace hl::cli
