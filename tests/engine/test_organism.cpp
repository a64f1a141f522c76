// The model organism (issue #23): the curriculum is deterministic and sound, training is deterministic and resumes
// exactly, the written directory runs in the engine exactly as in training, and the committed organism shows the
// mechanisms it was built for (retrieval, needles at every depth, PASTA on conflicts, GUIDE's Influence, ablation).
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "analysis/organism/curriculum.h"
#include "analysis/organism/train.h"
#include "analysis/task_suite.h"
#include "core/engine/model.h"
#include "core/engine/tensor_io.h"
#include "core/error.h"
#include "core/steering/head_config.h"
#include "core/tokenizers/tokenizer.h"
#include "engine/cli_runner.h"
#include "engine/doctest_torch.h"
#include "tests/scratch_dir.h"
#include "workbench/organism_eval.h"

using namespace hl;
using namespace hl::organism;
using hl_test::ScratchDir;
using hl::test::run_cli;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TrainConfig tiny(int64_t steps) {
  TrainConfig c;
  c.seed = 3;
  c.hidden = 32, c.heads = 4, c.layers = 2, c.intermediate = 64, c.context = 128;
  c.batch_tokens = 512, c.steps = steps, c.warmup = 4, c.checkpoint_every = 1000;
  return c;
}

fs::path organism_dir() { return fs::path(HEADLIGHT_SOURCE_DIR) / "assets" / "organism"; }

// What a passage states and asks, read back in its world's wording: (entity, attribute, value) of every statement in
// order, and of every question with its answer (each answer weighted as a retrieval answer).
struct Told {
  std::vector<std::string> said;
  std::multiset<std::vector<std::string>> asked;
};

Told told(const World& w, const Doc& d) {
  const auto st = statement_words(w, "E", "A", "V"), q = question_words(w, "E", "A");
  // Matches `pattern` at i, its placeholders standing for any word; returns what they stood for (E, A, V order).
  auto match = [&](const std::vector<std::string>& pattern, size_t i, std::map<std::string, std::string>& got) {
    if (i + pattern.size() > d.words.size()) return false;
    for (size_t k = 0; k < pattern.size(); ++k) {
      const std::string& p = pattern[k];
      if (p == "E" || p == "A" || p == "V") got[p] = d.words[i + k];
      else if (p != d.words[i + k]) return false;
    }
    return true;
  };
  Told t;
  for (size_t i = 0; i < d.words.size(); ++i) {
    std::map<std::string, std::string> got;
    if (match(st, i, got)) t.said.insert(t.said.end(), {got["E"], got["A"], got["V"]});
    if (match(q, i, got) && i + q.size() + 1 < d.words.size() && d.words[i + q.size() + 1] == ".") {
      t.asked.insert({got["E"], got["A"], d.words[i + q.size()]});
      CHECK(d.weight[i + q.size()] == kRetrievalWeight);
    }
  }
  return t;
}

}  // namespace

TEST_CASE("organism curriculum: deterministic per seed, one token per word, conflicts contradict the fact table") {
  const World a = make_world(5), b = make_world(5), c = make_world(6);
  CHECK(a.vocabulary() == b.vocabulary());
  CHECK(a.facts == b.facts);
  CHECK(a.fact_entities != c.fact_entities);
  const auto vocab = a.vocabulary();
  CHECK(std::set<std::string>(vocab.begin(), vocab.end()).size() == vocab.size());  // no word twice

  ScratchDir d("organism_tok");
  d.write("tokenizer.json", tokenizer_json(a));
  const auto tok = load_tokenizer(d.dir);
  CHECK(tok->vocab_size() == static_cast<int64_t>(vocab.size()));
  for (size_t i = 0; i < vocab.size(); i += 7) CHECK(tok->encode(vocab[i]).ids == std::vector<int64_t>{static_cast<int64_t>(i)});

  Rng r1(9), r2(9);
  for (int i = 0; i < 20; ++i) {
    const QaItem x = make_conflict_item(a, r1), y = make_conflict_item(a, r2);
    CHECK(x.prompt == y.prompt);
    CHECK(x.answer != x.other);
    // The prior is the fact table's value for that entity and attribute.
    const auto words = tok->encode(x.prompt).ids;
    CHECK(x.prompt.rfind("previously ", 0) == 0);
    CHECK(x.prompt.find(x.emphasis) != std::string::npos);
    CHECK(x.emphasis.rfind("currently ", 0) == 0);
    const std::string entity = x.prompt.substr(11, x.prompt.find(' ', 11) - 11);
    const auto e = std::find(a.fact_entities.begin(), a.fact_entities.end(), entity) - a.fact_entities.begin();
    REQUIRE(e < static_cast<long>(a.fact_entities.size()));
    const std::string attr = x.prompt.substr(12 + entity.size(), x.prompt.find(' ', 12 + entity.size()) - 12 - entity.size());
    const auto at = std::find(a.attributes.begin(), a.attributes.end(), attr) - a.attributes.begin();
    REQUIRE(at < static_cast<long>(a.attributes.size()));
    CHECK(a.values[static_cast<size_t>(at)][static_cast<size_t>(a.facts[static_cast<size_t>(e)][static_cast<size_t>(at)])] == x.other);
    (void)words;
  }
  // A needle sits where asked and its question ends the prompt.
  Rng r3(1);
  const QaItem n0 = make_needle_item(a, r3, 200, 0.0), n1 = make_needle_item(a, r3, 200, 1.0);
  CHECK(n0.prompt.rfind(n0.emphasis, 0) == 0);
  CHECK(n1.prompt.find(n1.emphasis) > n1.prompt.size() / 2);
  CHECK(n0.prompt.back() == '?');
}

TEST_CASE("organism curriculum: updated statements are answered by their latest value; known entities never updated") {
  const World w = make_world(5);
  const std::set<std::string> facts(w.fact_entities.begin(), w.fact_entities.end());
  Rng rng(11);
  int64_t updates = 0, questions = 0;
  for (int doc = 0; doc < 200; ++doc) {
    const Doc d = make_passage(w, rng, 256, 6, 6, 0.0, 0.5);
    REQUIRE(d.words.size() == d.weight.size());
    // Walk the passage: "E a is v ." statements, then "E a ? v ." questions (the answer carries kRetrievalWeight).
    std::map<std::pair<std::string, std::string>, std::vector<std::string>> said;
    for (size_t i = 0; i + 4 < d.words.size(); ++i) {
      if (d.words[i + 2] == "is" && d.words[i + 4] == ".") said[{d.words[i], d.words[i + 1]}].push_back(d.words[i + 3]);
      if (d.words[i + 2] == "?" && d.weight[i + 3] == kRetrievalWeight) {
        const auto it = said.find({d.words[i], d.words[i + 1]});
        REQUIRE(it != said.end());
        CHECK(d.words[i + 3] == it->second.back());  // the latest statement answers
        ++questions;
      }
    }
    for (const auto& [key, values] : said) {
      CHECK(values.size() <= 2);
      if (values.size() == 2) {
        ++updates;
        CHECK(values[0] != values[1]);
        CHECK(facts.count(key.first) == 0);
      }
    }
  }
  CHECK(questions == 200 * 6);
  CHECK(updates > 200);  // about half of the ~85 % passage-entity statements
  // update = 0 draws nothing extra: the earlier curricula's documents are unchanged.
  Rng r1(4), r2(4);
  CHECK(make_passage(w, r1, 256, 6, 6, 0.0, 0.0).words == make_passage(w, r2, 256, 6, 6).words);
}

TEST_CASE("organism curriculum: every answer's retrieval link runs from where it is predicted to the value that answers it") {
  for (const Form form : {Form::EntityFirst, Form::AttributeFirst, Form::EntityFirstIs}) {
    CAPTURE(form_name(form));
    const World w = make_world(5, WorldShape{96, 384, 6, form});
    const auto st = statement_words(w, "E", "A", "V"), qw = question_words(w, "E", "A");
    const auto slot = [](const std::vector<std::string>& pattern, const char* p) {
      return static_cast<int64_t>(std::find(pattern.begin(), pattern.end(), p) - pattern.begin());
    };
    // Whether the words at i state something about (e, a), with any value.
    const auto states = [&](const Doc& d, int64_t i, const std::string& e, const std::string& a) {
      for (size_t j = 0; j < st.size(); ++j) {
        const std::string want = st[j] == "E" ? e : st[j] == "A" ? a : st[j];
        if (i + static_cast<int64_t>(j) >= static_cast<int64_t>(d.words.size())) return false;
        if (st[j] != "V" && d.words[static_cast<size_t>(i) + j] != want) return false;
      }
      return true;
    };
    Rng rng(12);
    int64_t links = 0, answers = 0;
    for (int doc = 0; doc < 100; ++doc) {
      const Doc d = make_passage(w, rng, 256, 6, 6, 0.1, 0.5);  // known entities overridden, statements updated
      answers += std::count(d.weight.begin(), d.weight.end(), kRetrievalWeight);
      for (const auto& [q, k] : d.links) {
        ++links;
        REQUIRE(k < q);
        REQUIRE(q + 1 < static_cast<int64_t>(d.words.size()));
        CHECK(d.weight[static_cast<size_t>(q + 1)] == kRetrievalWeight);  // q predicts an in-context answer
        CHECK(d.words[static_cast<size_t>(k)] == d.words[static_cast<size_t>(q + 1)]);  // k holds that value
        // ... inside a statement about the question's entity and attribute, and no later one states them again.
        const int64_t q_start = q + 1 - static_cast<int64_t>(qw.size()), s_start = k - slot(st, "V");
        const std::string& e = d.words[static_cast<size_t>(q_start + slot(qw, "E"))];
        const std::string& a = d.words[static_cast<size_t>(q_start + slot(qw, "A"))];
        CHECK(states(d, s_start, e, a));
        for (int64_t j = s_start + 1; j < q_start; ++j) CHECK_FALSE(states(d, j, e, a));
      }
    }
    CHECK(answers == 100 * 6);
    CHECK(links == answers);  // every answer has its link
  }
}

TEST_CASE("organism curriculum: the context weight scales the passage's own words only, and draws nothing") {
  const World w = make_world(5);
  Rng r1(21), r2(21);
  const Doc full = make_passage(w, r1, 256, 6, 6, 0.0, 0.3);
  const Doc light = make_passage(w, r2, 256, 6, 6, 0.0, 0.3, 0.1f);
  REQUIRE(full.words == light.words);  // the same document: only the loss weights differ
  const size_t questions = full.words.size() - 5 * 6;  // the passage ends where the 6 "E a ? v ." questions begin
  int64_t scaled = 0;
  for (size_t i = 0; i < full.words.size(); ++i) {
    if (i > 0 && i < questions) {
      CHECK(light.weight[i] == doctest::Approx(0.1 * full.weight[i]));
      ++scaled;
    } else {
      CHECK(light.weight[i] == full.weight[i]);  // <s> and the questions with their answers are unchanged
    }
  }
  CHECK(scaled > 200);
  CHECK(std::count(light.weight.begin(), light.weight.end(), kRetrievalWeight) == 6);
  // One attribute for every statement: each question has same-attribute distractors, told apart by the entity only.
  Rng r3(22);
  const Doc one = make_passage(w, r3, 256, 8, 8, 0.0, 0.0, 1.f, 2);
  int64_t statements = 0;
  std::set<std::string> entities;
  for (size_t i = 0; i + 4 < one.words.size(); ++i)
    if (one.words[i + 2] == "is" && one.words[i + 4] == ".") {
      CHECK(one.words[i + 1] == w.attributes[2]);
      entities.insert(one.words[i]);
      ++statements;
    }
  CHECK(statements == 8);
  CHECK(entities.size() == 8);
  // same_attribute = 0 draws nothing extra: documents of the earlier curricula are unchanged.
  Rng r4(23), r5(23);
  CurriculumMix mix;
  mix.context_weight = 0.1;
  for (int i = 0; i < 20; ++i) CHECK(make_document(w, r4, 256).words == make_document(w, r5, 256, mix).words);
  // The training config records both new fields and reads them back; older organism.json files without them read
  // as the defaults (conflicts from step 0, context weight 1).
  TrainConfig c = tiny(10);
  c.conflict_from = 7, c.context_weight = 0.25;
  const TrainConfig back = train_config_from_json(train_config_json(c), "test");
  CHECK(back.conflict_from == 7);
  CHECK(back.context_weight == 0.25);
  auto j = nlohmann::json::parse(train_config_json(tiny(10)));
  j.erase("conflict_from"), j.erase("context_weight");
  const TrainConfig old = train_config_from_json(j.dump(), "test");
  CHECK(old.conflict_from == 0);
  CHECK(old.context_weight == 1.0);
  c.context_weight = 1.5;
  ScratchDir d("organism_schedule");
  CHECK_THROWS_WITH_AS(train(c, d.dir / "refused", {}), doctest::Contains("context_weight"), Error);
  CHECK_FALSE(fs::exists(d.dir / "refused"));
  // Overrides and updates scheduled past the last step leave the run exactly as a run without them.
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  TrainConfig plain = tiny(4), scheduled = tiny(4);
  scheduled.fact_override = 0.5, scheduled.update = 0.5, scheduled.conflict_from = 4;
  train(plain, d.dir / "plain", {});
  train(scheduled, d.dir / "scheduled", {});
  CHECK(slurp(d.dir / "plain" / "model.safetensors") == slurp(d.dir / "scheduled" / "model.safetensors"));
  // One attribute per document until a step: up to it, the run is the run with a same-attribute share of 1.
  TrainConfig until = tiny(4), all_same = tiny(4);
  until.same_attribute_until = 4, all_same.same_attribute = 1.0;
  train(until, d.dir / "until", {});
  train(all_same, d.dir / "all_same", {});
  CHECK(slurp(d.dir / "until" / "model.safetensors") == slurp(d.dir / "all_same" / "model.safetensors"));
  CHECK(slurp(d.dir / "until" / "model.safetensors") != slurp(d.dir / "plain" / "model.safetensors"));
  CHECK(train_config_from_json(train_config_json(until), "test").same_attribute_until == 4);
  at::set_num_threads(threads);
}

TEST_CASE("organism curriculum: questions drawn with replacement ask some statements twice, each by its own value") {
  const World w = make_world(5);
  Rng rng(31);
  int64_t questions = 0, repeated_docs = 0, unasked = 0;
  for (int doc = 0; doc < 100; ++doc) {
    const Doc d = make_passage(w, rng, 256, 8, 8, 0.0, 0.0, 0.1f, -1, true);
    const Told t = told(w, d);
    REQUIRE(t.said.size() == 8 * 3);
    std::map<std::pair<std::string, std::string>, std::string> value;
    for (size_t i = 0; i < t.said.size(); i += 3) value[{t.said[i], t.said[i + 1]}] = t.said[i + 2];
    std::set<std::vector<std::string>> distinct_asked(t.asked.begin(), t.asked.end());
    for (const auto& q : t.asked) {
      const auto it = value.find({q[0], q[1]});
      REQUIRE(it != value.end());
      CHECK(q[2] == it->second);  // each question is answered by the statement it asks about
    }
    questions += static_cast<int64_t>(t.asked.size());
    if (distinct_asked.size() < t.asked.size()) ++repeated_docs;
    unasked += 8 - static_cast<int64_t>(distinct_asked.size());
  }
  CHECK(questions == 100 * 8);  // as many questions as statements, as without replacement
  // With 8 draws from 8 statements about 2.75 go unasked per document (8 (7/8)^8); elimination no longer works.
  CHECK(repeated_docs > 90);
  CHECK(unasked > 200);
  CHECK(unasked < 350);
  // Off by default, and then nothing changes: every statement asked once, the earlier documents unchanged.
  Rng r1(32), r2(32);
  const Doc once = make_passage(w, r1, 256, 8, 8, 0.0, 0.0, 0.1f, -1);
  CHECK(once.words == make_passage(w, r2, 256, 8, 8, 0.0, 0.0, 0.1f, -1, false).words);
  const Told t = told(w, once);
  CHECK(std::set<std::vector<std::string>>(t.asked.begin(), t.asked.end()).size() == 8);
  // The training option reaches the documents and the recorded configuration.
  TrainConfig c = tiny(4);
  c.ask_with_replacement = true;
  CHECK(train_config_from_json(train_config_json(c), "test").ask_with_replacement);
  CHECK_FALSE(train_config_from_json(train_config_json(tiny(4)), "test").ask_with_replacement);
  auto j = nlohmann::json::parse(train_config_json(c));
  j["ask_with_replacement"] = 1;
  CHECK_THROWS_WITH_AS(train_config_from_json(j.dump(), "cfg"), "cfg: field ask_with_replacement is not true or false", Error);
}

TEST_CASE("organism: without embedding decay the embeddings of tokens a step did not see are left as they were") {
  ScratchDir d("organism_embedding_decay");
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  auto one_step = [&](bool embedding_decay, const char* name) {
    TrainConfig c = tiny(1);
    c.warmup = 0, c.lr = 1e-2, c.weight_decay = 0.5, c.embedding_decay = embedding_decay;
    train(c, d.dir / name, {}, nullptr, 1);
    return load_tensors(d.dir / name / "model.safetensors", nullptr);
  };
  const auto kept = one_step(false, "kept"), decayed = one_step(true, "decayed");
  const at::Tensor a = kept.at("model.embed_tokens.weight"), b = decayed.at("model.embed_tokens.weight");
  // A row no token of the step used has no gradient, so AdamW moves it by the decay alone: by (1 - lr wd) with decay,
  // not at all without. The rows the step used move by their updates in both runs.
  const at::Tensor ratio = (b / a).nan_to_num(1.0);
  const at::Tensor untouched = ((ratio - (1 - 1e-2 * 0.5)).abs() < 1e-6).all(1);
  const int64_t n_untouched = untouched.sum().item<int64_t>();
  CHECK(n_untouched > a.size(0) / 2);  // most of the vocabulary is absent from one small batch
  CHECK(n_untouched < a.size(0));
  // The other matrices decay in both runs alike (the step's gradients are the same: both start from the same weights).
  CHECK(kept.at("model.layers.0.self_attn.q_proj.weight").equal(decayed.at("model.layers.0.self_attn.q_proj.weight")));
  CHECK(kept.at("lm_head.weight").equal(decayed.at("lm_head.weight")));
  CHECK(train_config_from_json(train_config_json(tiny(1)), "test").embedding_decay);
  TrainConfig off = tiny(1);
  off.embedding_decay = false;
  CHECK_FALSE(train_config_from_json(train_config_json(off), "test").embedding_decay);
  at::set_num_threads(threads);
}

TEST_CASE("organism curriculum: entity repetition documents repeat a run of names, the repeat weighted") {
  const World w = make_world(5);
  Rng r(3);
  const Doc d = make_repeat(w, r, 128);
  REQUIRE(d.words.size() == 1 + 2 * 63);
  std::set<std::string> names(w.fact_entities.begin(), w.fact_entities.end());
  names.insert(w.passage_entities.begin(), w.passage_entities.end());
  for (size_t i = 1; i <= 63; ++i) {
    CHECK(names.count(d.words[i]) == 1);
    CHECK(d.words[i + 63] == d.words[i]);
    CHECK(d.weight[i] == 0.f);
    CHECK(d.weight[i + 63] == (i == 1 ? 0.f : 1.f));
  }
  // A mix of repetitions only makes repetitions.
  CurriculumMix m;
  m.repeat = 1.0;
  m.fact_drill = m.recall = m.passage = 0;
  Rng c(12);
  const Doc rep = make_document(w, c, 128, m);
  CHECK(rep.words[1] == rep.words[64]);
}

TEST_CASE("organism curriculum: the attribute-first form words the same draws with the entity before the question mark") {
  const World e = make_world(5), a = make_world(5, WorldShape{96, 384, 6, Form::AttributeFirst});
  CHECK(a.fact_entities == e.fact_entities);
  CHECK(a.facts == e.facts);
  auto ve = e.vocabulary(), va = a.vocabulary();
  REQUIRE(va.size() == ve.size() + 1);
  CHECK(std::count(va.begin(), va.end(), "of") == 1);
  va.erase(std::find(va.begin(), va.end(), "of"));
  CHECK(va == ve);  // one word more, the others in the same order
  CHECK(statement_words(a, "zorano", "color", "teal") == std::vector<std::string>{"color", "of", "zorano", "is", "teal", "."});
  CHECK(question_words(a, "zorano", "color") == std::vector<std::string>{"color", "of", "zorano", "?"});
  // The same draws: a passage states the same facts in the same order and asks about the same ones, reworded (the
  // longer wording leaves room for less filler, so the question order, drawn after the filler, may differ).
  // The value-first wording (below) too.
  const World v = make_world(5, WorldShape{96, 384, 6, Form::ValueFirst});
  for (uint64_t seed : {31u, 32u, 33u}) {
    Rng r1(seed), r2(seed), r3(seed);
    const Told te = told(e, make_passage(e, r1, 256, 6, 6, 0.0, 0.4));
    const Told ta = told(a, make_passage(a, r2, 256, 6, 6, 0.0, 0.4)), tv = told(v, make_passage(v, r3, 256, 6, 6, 0.0, 0.4));
    CHECK(te.said.size() >= 3 * 6);  // 6 statements, some updated
    CHECK(ta.said == te.said);
    CHECK(tv.said == te.said);
    CHECK(te.asked.size() == 6);
    CHECK(ta.asked == te.asked);
    CHECK(tv.asked == te.asked);
  }
  Rng r3(8), r4(8);
  const QaItem ce = make_conflict_item(e, r3), ca = make_conflict_item(a, r4);
  CHECK(ca.answer == ce.answer);
  CHECK(ca.other == ce.other);
  const std::string asked = ce.prompt.substr(ce.prompt.rfind(". ") + 2);  // "E a ?"
  const std::string entity = asked.substr(0, asked.find(' '));
  const std::string attribute = asked.substr(asked.find(' ') + 1, asked.rfind(' ') - asked.find(' ') - 1);
  CHECK(ca.prompt == "previously " + attribute + " of " + entity + " is " + ca.other + " . currently " + attribute + " of " +
                         entity + " is " + ca.answer + " . " + attribute + " of " + entity + " ?");
  CHECK(ca.emphasis == "currently " + attribute + " of " + entity + " is " + ca.answer + " .");
  Rng r5(9);
  const QaItem n = make_needle_item(a, r5, 200, 0.5);
  CHECK(n.prompt.size() > n.emphasis.size());
  CHECK(n.prompt.find(n.emphasis) != std::string::npos);
  CHECK(n.prompt.substr(n.prompt.size() - 2) == " ?");
  // Value-first: the value leads the statement and the question ends at the entity, where the answer is predicted.
  CHECK(v.vocabulary() == a.vocabulary());
  CHECK(statement_words(v, "zorano", "color", "teal") == std::vector<std::string>{"teal", "is", "color", "of", "zorano", "."});
  CHECK(question_words(v, "zorano", "color") == std::vector<std::string>{"?", "color", "of", "zorano"});
  Rng r6(8);
  const QaItem cv = make_conflict_item(v, r6);
  CHECK(cv.answer == ce.answer);
  CHECK(cv.prompt == "previously " + ca.other + " is " + attribute + " of " + entity + " . currently " + ca.answer + " is " +
                         attribute + " of " + entity + " . ? " + attribute + " of " + entity);
  CHECK(cv.emphasis == "currently " + ca.answer + " is " + attribute + " of " + entity + " .");
  // Cloze: the question is the statement's own beginning, and the value follows the entity it belongs to.
  const World z = make_world(5, WorldShape{96, 384, 6, Form::Cloze});
  CHECK(z.vocabulary() == a.vocabulary());
  CHECK(statement_words(z, "zorano", "color", "teal") == std::vector<std::string>{"color", "of", "zorano", "teal", "."});
  CHECK(question_words(z, "zorano", "color") == std::vector<std::string>{"?", "color", "of", "zorano"});
  Rng r7(8);
  const QaItem cz = make_conflict_item(z, r7);
  CHECK(cz.prompt == "previously " + attribute + " of " + entity + " " + ca.other + " . currently " + attribute + " of " +
                         entity + " " + ca.answer + " . ? " + attribute + " of " + entity);
  CHECK(form_from_name("cloze") == Form::Cloze);
  CHECK(std::string(form_name(Form::Cloze)) == "cloze");
  CHECK(form_from_name("value-first") == Form::ValueFirst);
  CHECK(std::string(form_name(Form::ValueFirst)) == "value-first");
  // Entity-first, asked in the statement's words: the same vocabulary and draws as entity-first; the question mark has
  // its entity, attribute and "is" where a statement's value has them.
  const World q = make_world(5, WorldShape{96, 384, 6, Form::EntityFirstIs});
  CHECK(q.vocabulary() == e.vocabulary());
  CHECK(statement_words(q, "zorano", "color", "teal") == statement_words(e, "zorano", "color", "teal"));
  CHECK(question_words(q, "zorano", "color") == std::vector<std::string>{"zorano", "color", "is", "?"});
  for (uint64_t seed : {31u, 32u}) {
    Rng r1(seed), r2(seed);
    const Told te = told(e, make_passage(e, r1, 256, 6, 6, 0.0, 0.4)), tq = told(q, make_passage(q, r2, 256, 6, 6, 0.0, 0.4));
    CHECK(tq.said == te.said);
    CHECK(tq.asked == te.asked);
  }
  Rng r8(8);
  const QaItem cq = make_conflict_item(q, r8);
  CHECK(cq.answer == ce.answer);
  CHECK(cq.prompt == "previously " + entity + " " + attribute + " is " + ca.other + " . currently " + entity + " " + attribute +
                         " is " + ca.answer + " . " + entity + " " + attribute + " is ?");
  CHECK(form_from_name("entity-first-is") == Form::EntityFirstIs);
  CHECK(std::string(form_name(Form::EntityFirstIs)) == "entity-first-is");
  // More attributes: the default world's six come first with the same values and facts; every word is distinct.
  const World m = make_world(5, WorldShape{96, 384, 18, Form::EntityFirst});
  CHECK(m.attributes.size() == kMaxAttributes);  // the lists hold as many attributes as the limit says
  CHECK(std::vector<std::string>(m.attributes.begin(), m.attributes.begin() + 6) == e.attributes);
  for (const auto& vals : m.values) CHECK(vals.size() == 12);
  const auto mv = m.vocabulary();
  CHECK(std::set<std::string>(mv.begin(), mv.end()).size() == mv.size());
  CHECK_THROWS_WITH_AS(make_world(5, WorldShape{96, 384, 19, Form::EntityFirst}), doctest::Contains("attributes must be 1..18"), Error);
  // The config names the form; old configs without it read as entity-first; an unknown form is refused by name.
  TrainConfig c = tiny(10);
  c.form = Form::AttributeFirst;
  CHECK(nlohmann::json::parse(train_config_json(c))["form"] == "attribute-first");
  CHECK(train_config_from_json(train_config_json(c), "test").form == Form::AttributeFirst);
  CHECK(organism_world(c).form == Form::AttributeFirst);
  auto j = nlohmann::json::parse(train_config_json(c));
  j.erase("form");
  CHECK(train_config_from_json(j.dump(), "test").form == Form::EntityFirst);
  j["attributes"] = 40;
  CHECK_THROWS_WITH_AS(train_config_from_json(j.dump(), "organism.json"), doctest::Contains("organism.json: field attributes is 40"), Error);
  j["attributes"] = 6;
  j["form"] = "verb-first";
  CHECK_THROWS_WITH_AS(train_config_from_json(j.dump(), "organism.json"), doctest::Contains("verb-first"), Error);
}

TEST_CASE("organism training is deterministic and a cancelled run resumes to the same weights") {
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  ScratchDir d("organism_train");
  train(tiny(12), d.dir / "straight", {});
  CancelToken stop;
  CHECK_THROWS_AS(train(tiny(12), d.dir / "resumed", [&](const TrainProgress& p) { if (p.step == 6) stop.cancel(); }, &stop, 1),
                  Cancelled);
  CHECK(fs::exists(d.dir / "resumed" / "checkpoint.safetensors"));
  CHECK_FALSE(fs::exists(d.dir / "resumed" / "model.safetensors"));
  int64_t first_step = -1;
  train(tiny(12), d.dir / "resumed", [&](const TrainProgress& p) { if (first_step < 0) first_step = p.step; }, nullptr, 1);
  CHECK(first_step == 7);  // continued after the 6 finished steps
  CHECK(slurp(d.dir / "straight" / "model.safetensors") == slurp(d.dir / "resumed" / "model.safetensors"));

  // A checkpoint written before the optional curriculum fields existed (its config lacks them) resumes as their
  // defaults, to the same weights.
  CancelToken stop_older;
  CHECK_THROWS_AS(train(tiny(12), d.dir / "older", [&](const TrainProgress& p) { if (p.step == 6) stop_older.cancel(); }, &stop_older, 1),
                  Cancelled);
  {
    std::map<std::string, std::string> meta;
    const auto saved = load_tensors(d.dir / "older" / "checkpoint.safetensors", &meta);
    auto cfg = nlohmann::json::parse(meta.at("config"));
    for (const char* k : {"conflict_from", "context_weight", "same_attribute", "update", "fact_override", "init_std",
                          "embedding_decay", "ask_with_replacement", "rope_llama3_factor", "rope_llama3_original",
                          "attention_supervision", "supervised_layer", "supervised_head", "supervised_heads",
                          "copy_supervision"}) {
      REQUIRE(cfg.contains(k));
      cfg.erase(k);
    }
    CHECK(meta.at("step") == "6");
    meta["config"] = cfg.dump();
    std::vector<std::pair<std::string, at::Tensor>> tensors(saved.begin(), saved.end());
    save_tensors(d.dir / "older" / "checkpoint.safetensors", tensors, meta);
  }
  train(tiny(12), d.dir / "older", {}, nullptr, 1);
  CHECK(slurp(d.dir / "straight" / "model.safetensors") == slurp(d.dir / "older" / "model.safetensors"));

  // Another configuration over the same checkpoint is refused, naming what differs.
  TrainConfig other = tiny(12);
  other.hidden = 48;
  try {
    train(other, d.dir / "resumed", {});
    FAIL("no error for a different configuration");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("hidden (checkpoint 32, asked 48)") != std::string::npos);
  }
  at::set_num_threads(threads);
}

TEST_CASE("organism: attention supervision teaches the chosen head to attend along the retrieval links") {
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  ScratchDir d("organism_supervision");
  // The supervised head's attention loss over the last steps, with the supervision off and on.
  auto final_attention_loss = [&](double weight, int64_t layer, int64_t head, const char* name, int64_t heads = 1) {
    TrainConfig c = tiny(60);
    c.mix_fact = 0, c.mix_recall = 1, c.mix_passage = 0;  // every document has answers, and so links
    c.attention_supervision = weight, c.supervised_layer = layer, c.supervised_head = head, c.supervised_heads = heads;
    double last = 0;
    train(c, d.dir / name, [&](const TrainProgress& p) { last = p.attention_loss; }, nullptr, 10);
    return last;
  };
  const double off = final_attention_loss(0, -1, 0, "off"), on = final_attention_loss(5, -1, 0, "on");
  const double other_head = final_attention_loss(5, 0, 3, "other");
  const double two_heads = final_attention_loss(5, -1, 1, "two", 2);
  CAPTURE(off);
  CAPTURE(on);
  CAPTURE(other_head);
  CAPTURE(two_heads);
  CHECK(off > 0);                 // measured with the supervision off as well
  CHECK(on < 0.5 * off);          // the supervised head attends along the links
  CHECK(other_head < 0.5 * off);  // layer 0's head 3 can be taught too
  CHECK(two_heads < 0.5 * off);   // two heads at once: the loss is their mean, and both learn it
  // The supervision is recorded, and a head the model does not have is refused by name.
  const TrainConfig rec = organism_config(d.dir / "on");
  CHECK(rec.attention_supervision == 5);
  CHECK(rec.supervised_layer == -1);
  TrainConfig bad = tiny(1);
  bad.supervised_head = 4;
  CHECK_THROWS_WITH_AS(train(bad, d.dir / "bad", {}, nullptr, 1),
                       "organism train: supervised_layer must be -1 (the last) or 0..1, supervised_head 0..3 and "
                       "supervised_heads at least 1, up to the last head", Error);
  bad.supervised_head = 2, bad.supervised_heads = 3;  // heads 2, 3, 4: one past the last
  CHECK_THROWS_AS(train(bad, d.dir / "bad", {}, nullptr, 1), Error);
  at::set_num_threads(threads);
}

TEST_CASE("organism: copy supervision teaches the supervised head to write the value it reads") {
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  ScratchDir d("organism_copy");
  // The supervised head's copy loss (the answer's cross-entropy under its own write) over the last steps.
  auto final_losses = [&](double copy, const char* name) {
    TrainConfig c = tiny(60);
    c.mix_fact = 0, c.mix_recall = 1, c.mix_passage = 0;  // every document has answers, and so links
    c.attention_supervision = 5, c.copy_supervision = copy;
    TrainProgress last;
    train(c, d.dir / name, [&](const TrainProgress& p) { last = p; }, nullptr, 10);
    return last;
  };
  const TrainProgress off = final_losses(0, "off"), on = final_losses(5, "on");
  CAPTURE(off.copy_loss);
  CAPTURE(on.copy_loss);
  CAPTURE(off.attention_loss);
  CAPTURE(on.attention_loss);
  // Measured with it off: the head's write alone is worse than chance among the attribute's 12 values.
  CHECK(off.copy_loss > std::log(12.0));
  CHECK(on.copy_loss < 0.6 * off.copy_loss);               // taught, the head's write moves towards the answer
  CHECK(on.attention_loss < 1.25 * off.attention_loss);  // and its attention is taught as well as without it
  CHECK(organism_config(d.dir / "on").copy_supervision == 5);
  TrainConfig bad = tiny(1);
  bad.copy_supervision = -1;
  CHECK_THROWS_WITH_AS(train(bad, d.dir / "bad", {}, nullptr, 1),
                       "organism train: attention_supervision and copy_supervision must be >= 0", Error);
  at::set_num_threads(threads);
}

TEST_CASE("organism: init_std sets the spread of the initial weights (the residual outputs get it over sqrt(2 layers))") {
  ScratchDir d("organism_init");
  auto initial = [&](double sd, const char* name) {
    TrainConfig c = tiny(1);
    c.init_std = sd, c.lr = 1e-12, c.weight_decay = 0;  // one step that moves nothing: the weights are the initial ones
    train(c, d.dir / name, {}, nullptr, 1);
    return load_tensors(d.dir / name / "model.safetensors", nullptr);
  };
  const auto a = initial(0.02, "narrow"), b = initial(0.08, "wide");
  for (const char* t : {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "lm_head.weight"}) {
    CHECK(a.at(t).std().item<double>() == doctest::Approx(0.02).epsilon(0.1));
    CHECK(b.at(t).std().item<double>() == doctest::Approx(0.08).epsilon(0.1));
  }
  CHECK(b.at("model.layers.1.mlp.down_proj.weight").std().item<double>() == doctest::Approx(0.08 / 2).epsilon(0.1));
  TrainConfig bad = tiny(1);
  bad.init_std = 0;
  CHECK_THROWS_WITH_AS(train(bad, d.dir / "bad", {}, nullptr, 1), "organism train: init_std must be in (0, 1]", Error);
}

TEST_CASE("the organism's directory runs in the engine as in training") {
  ScratchDir d("organism_parity");
  TrainConfig c = tiny(3);  // the default organism's shape (head size 16, widths the packed kernels tile unevenly)
  c.hidden = 96, c.heads = 6, c.layers = 4, c.intermediate = 256, c.context = 256;
  train(c, d.dir, {});
  LoadOptions lo;
  auto m = Model::load(d.dir, lo);
  REQUIRE(m->tokenizer());
  CHECK(m->tokenizer()->kind() == "wordlevel");
  const auto ids = m->tokenizer()->encode("the quiet river crosses the old bridge . teal color ?", EncodeOptions{true, true}).ids;
  REQUIRE(ids.front() == 1);
  const auto ref = training_forward_logits(d.dir, ids);
  KVCache cache = m->new_cache(1, static_cast<int64_t>(ids.size()));
  ForwardOptions fo;
  fo.all_logits = true;
  const at::Tensor x = at::from_blob(const_cast<int64_t*>(ids.data()), {1, static_cast<int64_t>(ids.size())}, at::kLong).clone();
  const at::Tensor got = m->forward(x, cache, fo).logits[0].contiguous();
  const at::Tensor want = at::from_blob(const_cast<float*>(ref.data()), got.sizes(), at::kFloat);
  CHECK((got - want).abs().max().item<double>() <= 1e-4);
  // Another RoPE base reaches config.json, and the engine reads it.
  c.rope_theta = 1e6, c.steps = 1;
  train(c, d.dir / "theta", {});
  CHECK(nlohmann::json::parse(slurp(d.dir / "theta" / "config.json"))["rope_theta"].get<double>() == 1e6);
  auto m2 = Model::load(d.dir / "theta", lo);
  KVCache cache2 = m2->new_cache(1, static_cast<int64_t>(ids.size()));
  const at::Tensor got2 = m2->forward(x, cache2, fo).logits[0].contiguous();
  const auto ref2 = training_forward_logits(d.dir / "theta", ids);
  CHECK((got2 - at::from_blob(const_cast<float*>(ref2.data()), got2.sizes(), at::kFloat)).abs().max().item<double>() <= 1e-4);
  // The base matters: the same weights read with the default base compute something else.
  fs::copy(d.dir / "theta", d.dir / "theta_default");
  auto cfg = nlohmann::json::parse(slurp(d.dir / "theta" / "config.json"));
  cfg["rope_theta"] = 10000.0;
  std::ofstream(d.dir / "theta_default" / "config.json", std::ios::trunc) << cfg.dump();
  auto m3 = Model::load(d.dir / "theta_default", lo);
  KVCache cache3 = m3->new_cache(1, static_cast<int64_t>(ids.size()));
  CHECK((m3->forward(x, cache3, fo).logits[0] - got2).abs().max().item<double>() > 1e-3);
  // Llama 3's RoPE scaling reaches config.json as HF writes it; the engine reads it and computes what training did.
  c.rope_theta = 10000, c.rope_llama3_factor = 32;
  train(c, d.dir / "llama3", {});
  const auto scaling = nlohmann::json::parse(slurp(d.dir / "llama3" / "config.json"))["rope_scaling"];
  CHECK(scaling["rope_type"] == "llama3");
  CHECK(scaling["factor"].get<double>() == 32);
  CHECK(scaling["original_max_position_embeddings"].get<int64_t>() == c.context);
  auto m4 = Model::load(d.dir / "llama3", lo);
  KVCache cache4 = m4->new_cache(1, static_cast<int64_t>(ids.size()));
  const at::Tensor got4 = m4->forward(x, cache4, fo).logits[0].contiguous();
  const auto ref4 = training_forward_logits(d.dir / "llama3", ids);
  CHECK((got4 - at::from_blob(const_cast<float*>(ref4.data()), got4.sizes(), at::kFloat)).abs().max().item<double>() <= 1e-4);
  // Head size 16 over a context of 256: pairs with wavelength under 64 turn as before, those over 256 turn 32x slower.
  const at::Tensor inv = m4->rope_inv_freq(), plain = m->rope_inv_freq();
  REQUIRE(inv.numel() == 8);
  for (int64_t i = 0; i < 8; ++i) {
    const double w = 2 * M_PI / plain[i].item<double>();
    if (w < 64) CHECK(inv[i].item<double>() == doctest::Approx(plain[i].item<double>()));
    if (w > 256) CHECK(inv[i].item<double>() == doctest::Approx(plain[i].item<double>() / 32));
  }
  CHECK(inv[7].item<double>() < plain[7].item<double>() / 31);
  // A shorter original length moves the bounds: over 64 tokens, pairs slower than one turn in 64 are scaled.
  c.rope_llama3_original = 64, c.steps = 1;
  train(c, d.dir / "llama3_64", {});
  CHECK(nlohmann::json::parse(slurp(d.dir / "llama3_64" / "config.json"))["rope_scaling"]["original_max_position_embeddings"] == 64);
  const at::Tensor inv64 = Model::load(d.dir / "llama3_64", lo)->rope_inv_freq();
  int64_t scaled = 0;
  for (int64_t i = 0; i < 8; ++i)
    if (2 * M_PI / plain[i].item<double>() > 64) {
      CHECK(inv64[i].item<double>() == doctest::Approx(plain[i].item<double>() / 32));
      ++scaled;
    }
  CHECK(scaled >= 4);
  TrainConfig bad = tiny(1);
  bad.rope_llama3_factor = 0.5;
  CHECK_THROWS_WITH_AS(train(bad, d.dir / "bad", {}), "organism train: rope_llama3_factor must be >= 1 (1 = no scaling)", Error);
}

TEST_CASE("organism CLI: train, data and eval on a small model; bad directories are named") {
  ScratchDir d("organism_cli");
  const auto out = (d.dir / "m").string();
  auto r = run_cli({"organism", "train", "--steps", "4", "--hidden", "32", "--heads", "4", "--layers", "2",
                    "--intermediate", "64", "--context", "128", "--batch-tokens", "512", "--weight-decay", "0.05",
                    "--context-weight", "0.2", "--conflict-from", "2", "--init-std", "0.05", "--no-embedding-decay",
                    "--ask-with-replacement", "--out", out, "--threads", "1"});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.out.find("step      4/4") != std::string::npos);
  const TrainConfig made = organism_config(out);  // the options reach the recorded configuration
  CHECK(made.weight_decay == 0.05);
  CHECK(made.context_weight == 0.2);
  CHECK(made.conflict_from == 2);
  CHECK(made.init_std == 0.05);
  CHECK_FALSE(made.embedding_decay);
  CHECK(made.ask_with_replacement);
  r = run_cli({"organism", "data", "--model", out, "--out", (d.dir / "data").string(), "--items", "5"});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  for (const char* s : {"organism_retrieval", "organism_needle", "organism_conflict", "organism_distractors"}) {
    const auto suite = load_suite_file(d.dir / "data" / (std::string(s) + ".jsonl"));
    CHECK(suite.examples.size() == 5);
  }
  CHECK(fs::file_size(d.dir / "data" / "haystack" / "filler.txt") > 10000);
  r = run_cli({"organism", "eval", "--model", out, "--items", "10", "--json", "--threads", "1"});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  for (const char* k : {"retrieval_accuracy", "needle_accuracy_by_depth", "conflict_new_share_baseline", "conflict_new_share_pasta",
                        "influence_by_delta", "ablation_top_heads", "ablation_random_heads", "binding_accuracy", "binding_chance",
                        "conflict_counts_by_context"})
    CHECK_MESSAGE(j.contains(k), k);
  CHECK(j["needle_accuracy_by_depth"].size() == 11);
  r = run_cli({"organism", "eval", "--model", d.dir.string()});
  CHECK(r.status != 0);
  CHECK(r.err.find("organism.json: not found") != std::string::npos);
  r = run_cli({"organism", "fly"});
  CHECK(r.err.find("give an action: train, eval or data") != std::string::npos);
  // The eval reports retrieval per number of statements in the passage, and the items add up.
  int64_t per_count = 0;
  for (const auto& [n, v] : j["retrieval_accuracy_by_statements"].items()) per_count += v["items"].get<int64_t>();
  CHECK(per_count == 10);
  // A checkpoint that is not an organism's (no config or step in its metadata) is refused by name, nothing trained.
  const auto bad = d.dir / "bad";
  fs::create_directories(bad);
  save_tensors(bad / "checkpoint.safetensors", {{"x", at::zeros({2})}});
  r = run_cli({"organism", "train", "--steps", "4", "--hidden", "32", "--heads", "4", "--layers", "2", "--intermediate",
               "64", "--context", "128", "--batch-tokens", "512", "--out", bad.string(), "--threads", "1"});
  CHECK(r.status != 0);
  CHECK(r.err.find("checkpoint.safetensors: not an organism checkpoint") != std::string::npos);
  CHECK(!fs::exists(bad / "model.safetensors"));
  // An unknown wording is refused by name before anything is written.
  r = run_cli({"organism", "train", "--form", "verb-first", "--steps", "1", "--out", (d.dir / "badform").string()});
  CHECK(r.status != 0);
  CHECK(r.err.find("organism form 'verb-first'") != std::string::npos);
  CHECK(!fs::exists(d.dir / "badform"));
}

TEST_CASE("organism eval: the held-out sets of different seeds are different draws") {
  // Each eval seed's streams (the main one and the binding one) share no draw with another seed's in their first
  // 4000 (an eval of 200 items takes about that many): a stream seeded with seed * splitmix64's increment replayed
  // the next seed's one draw later.
  auto first = [](uint64_t start) {
    Rng r(start);
    std::vector<uint64_t> v(4000);
    for (auto& x : v) x = r.next();
    return v;
  };
  std::set<uint64_t> seen;
  size_t drawn = 0;
  for (uint64_t seed = 7; seed <= 11; ++seed)
    for (uint64_t tag : {0xE7A1ull, 0xB1Dull}) {
      const auto v = first(stream_seed(seed, tag));  // the eval's two streams
      seen.insert(v.begin(), v.end());
      drawn += v.size();
    }
  CHECK(seen.size() == drawn);
  // What the old seeding did: seed 8's stream is seed 7's shifted by one draw.
  const auto s7 = first(7 * 0x9E3779B97F4A7C15ull), s8 = first(8 * 0x9E3779B97F4A7C15ull);
  CHECK(s8[0] == s7[1]);
}

TEST_CASE("the committed organism: the issue's figures, and its profiled heads are the mechanism") {
  const fs::path dir = organism_dir();
  REQUIRE(fs::exists(dir / "model.safetensors"));
  EvalOptions o;
  o.model_dir = dir;
  o.items = 200;  // the README's figures (eval.json)
  const auto r = evaluate(o);
  INFO(r.dump(1));
  // In-context retrieval and binding: every statement sharing the asked attribute, only the entity tells the answer.
  CHECK(r["retrieval_accuracy"].get<double>() >= 0.95);
  CHECK(r["binding_accuracy"].get<double>() >= 0.9);
  for (auto it = r["needle_accuracy_by_depth"].begin(); it != r["needle_accuracy_by_depth"].end(); ++it)
    CHECK_MESSAGE(it.value().get<double>() >= 0.95, "depth " << it.key());
  CHECK(r["fact_recall"].get<double>() >= 0.95);
  // Knowledge conflicts: the prior (what the weights know) mostly wins, and PASTA on the `currently` clause raises
  // the share of new answers.
  CHECK(r["conflict_prior_share_baseline"].get<double>() >= 0.7);
  CHECK(r["conflict_new_share_pasta"].get<double>() >= r["conflict_new_share_baseline"].get<double>() + 0.1);
  // The counts by context (opening the prompt, after filler) add up to the totals.
  int64_t by_context_items = 0, by_context_new = 0;
  for (const auto& [k, v] : r["conflict_counts_by_context"].items())
    by_context_items += v["items"].get<int64_t>(), by_context_new += v["pasta"]["new"].get<int64_t>();
  CHECK(by_context_items == r["conflict_items"].get<int64_t>());
  CHECK(by_context_new == r["conflict_counts"]["pasta"]["new"].get<int64_t>());
  CHECK(r["influence_monotonic"].get<bool>());
  // Ground truth for the profiler: the head trained to retrieve (organism.json: the last layer's head 0) ranks first,
  // and ablating the profiled heads costs far more than random ones.
  const TrainConfig c = organism_config(dir);
  REQUIRE(c.attention_supervision > 0);
  CHECK(r["profiled_heads"][0].get<std::string>() ==
        "L" + std::to_string(supervised_layer_index(c)) + "H" + std::to_string(c.supervised_head));
  CHECK(r["ablation_top_heads"].get<double>() < r["ablation_random_heads"].get<double>() - 0.2);
  // The heads it ships are the ones the eval profiled, in rank order, and PASTA on them flips a conflict: the prior
  // without steering, the new fact with it.
  CHECK(load_head_config(dir / "heads.json") == parse_head_set(r["profiled_heads"], "profiled_heads"));
  ScratchDir d("organism_conflict");
  // (The eval's conflicts that follow filler are the ones PASTA flips: conflict_counts_by_context.)
  const std::string prompt = "the quiet river crosses near the old bridge . the tall tower faces above the road . the dark "
                             "cloud passes under the village . previously zaba city is quito . currently zaba city is rome . "
                             "zaba city ?";
  d.write("spec.json", nlohmann::json{{"method", "pasta"}, {"alpha", 0.01},
                                      {"emphasis", {"currently zaba city is rome ."}},
                                      {"heads", nlohmann::json::parse(slurp(dir / "heads.json"))}}.dump());
  const auto g = run_cli({"generate", "--model", dir.string(), "--prompt", prompt, "--steering",
                          (d.dir / "spec.json").string(), "--max-new", "1", "--json", "--threads", "1"});
  REQUIRE_MESSAGE(g.status == 0, g.err);
  const auto out = nlohmann::json::parse(g.out);
  CHECK(out["text"].get<std::string>() == "quito");
  CHECK(out["steered_text"].get<std::string>() == "rome");
}

TEST_CASE("on the organism, Wu et al.'s retrieval score and the PASTA profiler find the same retrieval head") {
  // Issue #25's test on a model whose retrieval head is known: needles in the organism's own haystack; the head with
  // the highest retrieval score is one of the heads the profiler chose (assets/organism/heads.json), and it is the
  // one whose zero-ablation the eval shows costing retrieval.
  ScratchDir d("organism_retrieval");
  const fs::path org = organism_dir();
  const auto r = run_cli({"niah", "--model", org.string(), "--haystack", (org / "suites" / "haystack").string(),
                          "--template", "plain", "--needle", "trobre food is bean .", "--question", "trobre food ?",
                          "--answer", "bean", "--lengths", "200,400", "--depths", "0,25,50,75,100", "--max-new", "2",
                          "--retrieval-scores", "--out", (d.dir / "n.csv").string(), "--threads", "1"});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const auto j = nlohmann::json::parse(r.out.substr(r.out.rfind("{\"cells\"")));
  CHECK(j["retrieval_copy_steps"].get<int64_t>() >= 10);
  int64_t best_l = -1, best_h = -1;
  double best = -1;
  const auto& s = j["retrieval_scores"];
  for (size_t l = 0; l < s.size(); ++l)
    for (size_t h = 0; h < s[l].size(); ++h)
      if (s[l][h].get<double>() > best) best = s[l][h].get<double>(), best_l = static_cast<int64_t>(l), best_h = static_cast<int64_t>(h);
  CHECK(best >= 0.3);
  const auto profiled = nlohmann::json::parse(slurp(org / "heads.json"));
  const std::string layer = std::to_string(best_l);
  REQUIRE_MESSAGE(profiled.contains(layer), "the best retrieval head L" << best_l << "H" << best_h << " is not profiled");
  const auto& heads = profiled[layer];
  CHECK_MESSAGE(std::find(heads.begin(), heads.end(), best_h) != heads.end(),
                "the best retrieval head L" << best_l << "H" << best_h << " is not among the profiled heads");
  // Every needle was found.
  std::istringstream csv(slurp(d.dir / "n.csv"));
  std::string line;
  std::getline(csv, line);  // header: length,depth,realised_depth,delta,score,...
  int cells = 0;
  while (std::getline(csv, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string x; std::getline(ls, x, ',');) f.push_back(x);
    REQUIRE(f.size() >= 5);
    CHECK_MESSAGE(f[4] == "1", line);
    ++cells;
  }
  CHECK(cells == 10);
}
