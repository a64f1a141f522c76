// The model organism's world and curriculum (issue #23): a word-level vocabulary of invented entities, attributes
// and values, a fact table the weights memorise, and generators for every kind of training document and held-out
// evaluation prompt. Deterministic from a seed (own RNG: the same text on every platform). Torch-free.
//
// Text forms (tokens are separated by spaces; the tokenizer splits on whitespace and punctuation):
//   statement        "{entity} {attribute} is {value} ."                 e.g. "zorano color is teal ."
//   question         "{entity} {attribute} ?"  answered by "{value}"     e.g. "zorano color ?" -> "teal"
//   closed-book      a question about a fact-table entity with no passage: the weights answer it.
//   passage          filler sentences with statements about passage entities (random values, optionally after a
//                    time word), then questions about them: in-context retrieval.
//   conflict (held out, never trained): "previously {E} {a} is {prior} . currently {E} {a} is {new} . {E} {a} ?"
//                    with E from the fact table and prior = its fact, new != prior (PASTA's CounterFact form).
// Those are Form::EntityFirst. Form::AttributeFirst words the same facts "{attribute} of {entity} is {value} ." and
// asks "{attribute} of {entity} ?": the entity sits right before the question mark, one token from where the answer
// is predicted. Both forms make the same draws: the same facts, stated and asked in a passage (only the amount of
// filler around the longer wording differs). Form::ValueFirst words them "{value} is {attribute} of {entity} ." and
// asks "? {attribute} of {entity}", answered by "{value}": the answer is predicted at the entity itself, and the
// statement's own entity token carries the value four tokens back, so retrieval is one induction-like match (the
// question's entity finds the statement's entity) instead of two composed ones (the question's entity must first be
// moved to the question mark, and the statement's to its value); but the value, stated before its entity, can never
// know which entity it belongs to, so no head can copy it by attending to it. Form::Cloze words them
// "{attribute} of {entity} {value} ." and asks the statement's own beginning, "? {attribute} of {entity}": the value
// follows its entity, so an induction head (the question's entity finds the token after the statement's entity)
// retrieves it by attending to the value itself. Form::EntityFirstIs states facts as Form::EntityFirst does and asks
// them in the statement's own words up to the value, "{entity} {attribute} is ?": the question mark then has its
// entity, attribute and "is" at the same offsets (-3, -2, -1) as a statement's value has them, so one head moving a
// token from a fixed offset gives the question and every statement's value the same code for their entity, and the
// match between them is a comparison of equal codes (in the other forms the two sides get the entity from different
// offsets, through different heads, and the match must learn to map one code onto the other).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hl::organism {

// splitmix64: a fixed, portable generator (std distributions differ between standard libraries). Its state only
// advances by a constant, so two generators whose seeds differ by a multiple of that constant replay one stream:
// start per-item or per-purpose streams at stream_seed(...), never at base + i * constant.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next();
  int64_t below(int64_t n);  // uniform in [0, n), n > 0
  double uniform();          // [0, 1)
 private:
  uint64_t s_;
};

// The start of stream `index` of `seed` (a training step's batch, one of the eval's held-out sets): taken from a
// generator's output, not its state, so that the streams of two seeds or two indices share no stretch.
inline uint64_t stream_seed(uint64_t seed, uint64_t index) { return Rng(seed * 0xD1B54A32D192ED03ull + index).next(); }

// How statements and questions are worded (see the top of this file).
enum class Form { EntityFirst, AttributeFirst, ValueFirst, Cloze, EntityFirstIs };
// By name: "entity-first", "attribute-first", "value-first", "cloze" or "entity-first-is" (hl::Error naming the accepted names otherwise), and back.
Form form_from_name(const std::string& name);
const char* form_name(Form f);

struct World {
  uint64_t seed = 0;
  Form form = Form::EntityFirst;
  std::vector<std::string> specials;          // <unk> <s> </s>
  std::vector<std::string> fact_entities;     // known to the weights
  std::vector<std::string> passage_entities;  // only ever described in context
  std::vector<std::string> attributes;
  std::vector<std::vector<std::string>> values;  // per attribute
  std::vector<std::vector<int64_t>> facts;       // [fact entity][attribute] -> value index
  std::vector<std::string> filler_nouns, filler_adjs, filler_verbs, filler_preps, time_words;
  std::vector<std::string> function_words;       // the is . ? (and "of" in the other forms)
  std::vector<std::string> vocabulary() const;   // every word, specials first (ids in this order)
};

inline constexpr int64_t kMaxAttributes = 18;  // the attributes a world can have (12 values each)

struct WorldShape {
  int64_t fact_entities = 96;
  int64_t passage_entities = 384;
  // Attributes (12 values each): the default six, or up to 18. With more of them, fewer statements in a passage
  // share the asked one, so fewer answers hinge on telling entities apart.
  int64_t attributes = 6;
  Form form = Form::EntityFirst;
};

World make_world(uint64_t seed, const WorldShape& shape = {});

// The words of a statement ("... is {value} .") and of a question about (entity, attribute) ("... ?"), in w's form.
std::vector<std::string> statement_words(const World& w, const std::string& entity, const std::string& attribute,
                                         const std::string& value);
std::vector<std::string> question_words(const World& w, const std::string& entity, const std::string& attribute);

// A training document as words, with the weight of each next-token target (answers weigh more).
struct Doc {
  std::vector<std::string> words;
  std::vector<float> weight;  // per word: loss weight of predicting this word from the ones before it
  // Each in-context answer's retrieval link: (the position the answer is predicted from, the position of the value
  // in the statement that answers it). A retrieval head attends along it; the trainer can supervise one head to
  // (TrainConfig::attention_supervision). Recording them draws nothing.
  std::vector<std::pair<int64_t, int64_t>> links;
};

struct CurriculumMix {
  double fact_drill = 0.25;  // fact statements and closed-book questions
  double recall = 0.25;      // dense associative recall: statements with little filler, each asked
  double passage = 0.5;      // in-context retrieval passages (some long, needle-like)
  // Of the statements about fact-table entities in passages, the share that gives another value than the weights
  // know (the question then asks for the passage's value): context may override memory.
  double fact_override = 0.0;
  // Of the statements about passage entities, the share that a later sentence of the same passage updates with
  // another value ("... later zorano color is red ."); the question then asks for the latest value. Teaches that
  // context can change within a passage; fact-table entities are never updated (that is the held-out conflict).
  double update = 0.0;
  // Loss weight of the passage's own words (filler sentences and statements): mostly unpredictable by construction
  // (random filler, random entities and values), so below 1 it leaves more of each step's gradient to the answers.
  double context_weight = 1.0;
  // Of the recall documents and passages, the share whose statements are all about one attribute: every question
  // then has distractors with the same attribute, and only the entity tells the answer apart.
  double same_attribute = 0.0;
  // Share of entity-repetition documents: a random run of entity names, then the same run again (the second time
  // predictable by matching each name to its earlier occurrence). It trains matching entities by identity, the
  // step retrieval needs to tell apart statements with the same attribute, on the names alone.
  double repeat = 0.0;
  // Whether the questions after a recall document or passage are drawn with replacement (a statement may be asked
  // twice, another not at all) instead of each statement once. Asked once each, the last questions can be answered by
  // elimination, the attribute's values not yet given, without telling the entities apart.
  bool ask_with_replacement = false;
};

// Loss weight of an in-context answer (the trainer reports the loss on these apart: "retrieval loss").
inline constexpr float kRetrievalWeight = 5.f;

// One document of about `length` words (the first word is <s>).
Doc make_fact_drill(const World& w, Rng& rng, int64_t length);
Doc make_repeat(const World& w, Rng& rng, int64_t length);
Doc make_passage(const World& w, Rng& rng, int64_t length, int64_t n_statements, int64_t n_questions,
                 double fact_override = 0.0, double update = 0.0, float context_weight = 1.f,
                 int64_t only_attribute = -1,  // >= 0: every statement is about that attribute
                 bool ask_with_replacement = false);  // CurriculumMix::ask_with_replacement
Doc make_document(const World& w, Rng& rng, int64_t length, const CurriculumMix& mix = {});

// Filler: n sentences of the filler grammar ("the quiet river crosses the old bridge ."), as text.
std::string filler_text(const World& w, Rng& rng, int64_t n_words);

// Held-out evaluation items (text without <s>; the answer is the next word after the prompt).
struct QaItem {
  std::string prompt;     // ends with "?"
  std::string answer;     // the expected value word
  std::string other;      // conflict: the prior value; else empty
  std::string emphasis;   // the span a steering method should emphasise (the answer's statement / clause)
  std::vector<std::string> labels;  // the attribute's values (label accuracy)
  double depth = -1;      // needle items: where the statement sits, 0..1
  int64_t statements = 0; // retrieval items: how many statements the passage holds
};

// Passages of about `length` words with n statements, one question about one of them. `n_statements` is recorded
// in the item (the eval reports accuracy per count). With `one_attribute` every statement is about the question's
// attribute: the other statements are distractors only the entity tells apart.
QaItem make_retrieval_item(const World& w, Rng& rng, int64_t length, int64_t n_statements, bool one_attribute = false);
// One statement (the needle) at `depth` (0 = start, 1 = end) of `length` words of filler, then its question.
QaItem make_needle_item(const World& w, Rng& rng, int64_t length, double depth);
// PASTA's CounterFact form over a fact-table entity; emphasis = the "currently ..." clause.
QaItem make_conflict_item(const World& w, Rng& rng, int64_t filler_words = 0);
// A closed-book question (fact recall).
QaItem make_fact_item(const World& w, Rng& rng);

// The word-level tokenizer.json (HF format: WordLevel model, Whitespace pre-tokenizer) for the world's vocabulary.
std::string tokenizer_json(const World& w);

}  // namespace hl::organism
