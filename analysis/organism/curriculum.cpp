#include "analysis/organism/curriculum.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace hl::organism {

uint64_t Rng::next() {
  uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int64_t Rng::below(int64_t n) {
  // Lemire's multiply-shift; the tiny bias for n << 2^64 does not matter here, portability does.
  return static_cast<int64_t>((static_cast<unsigned __int128>(next()) * static_cast<uint64_t>(n)) >> 64);
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

namespace {

// The first six are the default world's; a world with more attributes (WorldShape::attributes) takes the next ones.
const std::vector<std::string> kAttributes = {"color", "city", "pet", "food", "tool", "gem",   "tree",  "bird", "drink",
                                              "metal", "sport", "flower", "cloth", "ship", "tune", "star", "shape", "game"};
const std::vector<std::vector<std::string>> kValues = {
    {"red", "blue", "teal", "amber", "violet", "ivory", "coral", "olive", "azure", "crimson", "silver", "indigo"},
    {"paris", "oslo", "lima", "cairo", "delhi", "tokyo", "quito", "dakar", "hanoi", "perth", "rome", "kyiv"},
    {"cat", "dog", "owl", "fox", "hare", "crow", "newt", "frog", "mole", "seal", "yak", "eel"},
    {"rice", "bread", "soup", "plum", "fig", "pear", "corn", "bean", "kale", "lime", "nut", "date"},
    {"saw", "drill", "axe", "rake", "hoe", "chisel", "wrench", "plane", "awl", "vise", "lathe", "trowel"},
    {"ruby", "opal", "jade", "onyx", "topaz", "pearl", "garnet", "beryl", "zircon", "agate", "jasper", "quartz"},
    {"oak", "elm", "ash", "pine", "fir", "yew", "birch", "cedar", "maple", "larch", "alder", "beech"},
    {"wren", "hawk", "swan", "duck", "lark", "kite", "robin", "heron", "crane", "finch", "raven", "egret"},
    {"tea", "milk", "juice", "cider", "cocoa", "mead", "broth", "soda", "water", "kefir", "punch", "wine"},
    {"iron", "tin", "zinc", "lead", "gold", "copper", "nickel", "cobalt", "bronze", "brass", "steel", "chrome"},
    {"golf", "polo", "judo", "rugby", "tennis", "hockey", "karate", "rowing", "skiing", "boxing", "fencing", "archery"},
    {"rose", "lily", "iris", "tulip", "daisy", "poppy", "lotus", "orchid", "freesia", "aster", "peony", "dahlia"},
    {"silk", "wool", "linen", "denim", "tweed", "satin", "velvet", "cotton", "lace", "felt", "chintz", "serge"},
    {"sloop", "yacht", "barge", "ferry", "canoe", "kayak", "junk", "ketch", "brig", "raft", "dhow", "skiff"},
    {"waltz", "tango", "polka", "samba", "reel", "jig", "hymn", "ballad", "anthem", "carol", "dirge", "lullaby"},
    {"vega", "rigel", "deneb", "sirius", "altair", "spica", "mira", "castor", "pollux", "antares", "capella", "polaris"},
    {"cube", "cone", "disc", "ring", "torus", "oval", "arch", "wedge", "prism", "sphere", "spiral", "cross"},
    {"chess", "go", "bingo", "poker", "dice", "darts", "whist", "rummy", "domino", "mahjong", "checkers", "backgammon"}};
const std::vector<std::string> kNouns = {"river", "bridge", "garden", "window", "mountain", "lantern", "market", "forest",
                                         "meadow", "harbor", "tower", "valley", "cloud", "road", "village", "field"};
const std::vector<std::string> kAdjs = {"quiet", "old", "bright", "small", "tall", "dark",
                                        "warm", "cold", "gentle", "distant", "busy", "empty"};
const std::vector<std::string> kVerbs = {"crosses", "watches", "follows", "reaches", "passes", "touches", "faces", "circles"};
const std::vector<std::string> kPreps = {"near", "under", "beyond", "above", "behind", "beside"};
const std::vector<std::string> kTimes = {"previously", "currently", "later", "today", "once", "then"};
const std::vector<std::string> kFunction = {"the", "is", ".", "?"};
const std::vector<std::string> kOnsets = {"b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "kr", "st", "tr"};
const std::vector<std::string> kVowels = {"a", "e", "i", "o", "u"};

template <class T>
const T& pick(Rng& rng, const std::vector<T>& v) {
  return v[static_cast<size_t>(rng.below(static_cast<int64_t>(v.size())))];
}

void add(Doc& d, const std::string& w, float weight = 1.f) {
  d.words.push_back(w);
  d.weight.push_back(weight);
}

std::vector<std::string> filler_sentence(const World& w, Rng& rng) {
  std::vector<std::string> s;
  if (rng.uniform() < 0.2) s.push_back(pick(rng, w.time_words));
  s.insert(s.end(), {"the", pick(rng, w.filler_adjs), pick(rng, w.filler_nouns), pick(rng, w.filler_verbs),
                     pick(rng, w.filler_preps), "the", pick(rng, w.filler_nouns), "."});
  return s;
}

std::string join(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& x : words) {
    if (!s.empty()) s += ' ';
    s += x;
  }
  return s;
}

// Distinct indices in [0, n).
std::vector<int64_t> distinct(Rng& rng, int64_t n, int64_t k) {
  std::vector<int64_t> out;
  std::set<int64_t> seen;
  while (static_cast<int64_t>(out.size()) < k) {
    const int64_t x = rng.below(n);
    if (seen.insert(x).second) out.push_back(x);
  }
  return out;
}

// A value index in [0, n) other than `not_this`, uniformly (one draw).
int64_t other_value(Rng& rng, int64_t n, int64_t not_this) {
  const int64_t v = rng.below(n - 1);
  return v >= not_this ? v + 1 : v;
}

struct Statement {
  std::string entity, attribute, value;
  std::vector<std::string> words;  // with its time word, when any
  bool known = false;              // a fact-table entity (the weights know its values)
};

// Sentences of filler with the statements placed at the given fractional positions, about `length` words.
std::vector<std::vector<std::string>> passage_sentences(const World& w, Rng& rng, int64_t length,
                                                        const std::vector<Statement>& st,
                                                        const std::vector<double>& depths) {
  int64_t budget = length;
  for (const auto& s : st) budget -= static_cast<int64_t>(s.words.size());
  std::vector<std::vector<std::string>> filler;
  for (;;) {
    auto f = filler_sentence(w, rng);
    if (static_cast<int64_t>(f.size()) > budget) break;
    budget -= static_cast<int64_t>(f.size());
    filler.push_back(std::move(f));
  }
  // Insert each statement between filler sentences at round(depth * n); ties keep statement order.
  std::vector<std::pair<int64_t, size_t>> at;
  for (size_t i = 0; i < st.size(); ++i)
    at.emplace_back(static_cast<int64_t>(depths[i] * static_cast<double>(filler.size()) + 0.5), i);
  std::stable_sort(at.begin(), at.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::vector<std::string>> out;
  size_t k = 0;
  for (int64_t i = 0; i <= static_cast<int64_t>(filler.size()); ++i) {
    while (k < at.size() && at[k].first == i) out.push_back(st[at[k++].second].words);
    if (i < static_cast<int64_t>(filler.size())) out.push_back(filler[static_cast<size_t>(i)]);
  }
  return out;
}

// k statements about distinct (entity, attribute) pairs: mostly passage entities with random values, some
// fact-table entities stated with their true value (context and memory agree in training).
// With `only_attribute` >= 0 every statement is about that attribute (the draws stay the same).
std::vector<Statement> make_statements(const World& w, Rng& rng, int64_t k, bool time_words, double fact_override = 0,
                                       int64_t only_attribute = -1) {
  std::vector<Statement> st;
  std::set<std::pair<std::string, std::string>> used;
  while (static_cast<int64_t>(st.size()) < k) {
    Statement s;
    int64_t a = rng.below(static_cast<int64_t>(w.attributes.size()));
    if (only_attribute >= 0) a = only_attribute;
    s.attribute = w.attributes[static_cast<size_t>(a)];
    if (rng.uniform() < 0.15) {
      const int64_t e = rng.below(static_cast<int64_t>(w.fact_entities.size()));
      s.entity = w.fact_entities[static_cast<size_t>(e)];
      s.known = true;
      int64_t v = w.facts[static_cast<size_t>(e)][static_cast<size_t>(a)];
      if (fact_override > 0 && rng.uniform() < fact_override)  // another value than the one the weights know
        v = other_value(rng, static_cast<int64_t>(w.values[static_cast<size_t>(a)].size()), v);
      s.value = w.values[static_cast<size_t>(a)][static_cast<size_t>(v)];
    } else {
      s.entity = pick(rng, w.passage_entities);
      s.value = pick(rng, w.values[static_cast<size_t>(a)]);
    }
    if (!used.insert({s.entity, s.attribute}).second) continue;
    if (time_words && rng.uniform() < 0.3) s.words.push_back(pick(rng, w.time_words));
    for (auto& x : statement_words(w, s.entity, s.attribute, s.value)) s.words.push_back(x);
    st.push_back(std::move(s));
  }
  return st;
}

const std::vector<std::string>& values_of(const World& w, const std::string& attribute) {
  const auto it = std::find(w.attributes.begin(), w.attributes.end(), attribute);
  return w.values[static_cast<size_t>(it - w.attributes.begin())];
}

// Words in a question of w's form.
int64_t question_length(const World& w) { return static_cast<int64_t>(question_words(w, "e", "a").size()); }

}  // namespace

Form form_from_name(const std::string& s) {
  if (s == "entity-first") return Form::EntityFirst;
  if (s == "attribute-first") return Form::AttributeFirst;
  if (s == "value-first") return Form::ValueFirst;
  if (s == "cloze") return Form::Cloze;
  if (s == "entity-first-is") return Form::EntityFirstIs;
  throw Error("organism form '" + s + "': expected entity-first, attribute-first, value-first, cloze or entity-first-is");
}

const char* form_name(Form f) {
  switch (f) {
    case Form::AttributeFirst: return "attribute-first";
    case Form::ValueFirst: return "value-first";
    case Form::Cloze: return "cloze";
    case Form::EntityFirstIs: return "entity-first-is";
    case Form::EntityFirst: break;
  }
  return "entity-first";
}

std::vector<std::string> statement_words(const World& w, const std::string& e, const std::string& a, const std::string& v) {
  if (w.form == Form::AttributeFirst) return {a, "of", e, "is", v, "."};
  if (w.form == Form::ValueFirst) return {v, "is", a, "of", e, "."};
  if (w.form == Form::Cloze) return {a, "of", e, v, "."};
  return {e, a, "is", v, "."};
}

std::vector<std::string> question_words(const World& w, const std::string& e, const std::string& a) {
  if (w.form == Form::AttributeFirst) return {a, "of", e, "?"};
  if (w.form == Form::ValueFirst || w.form == Form::Cloze) return {"?", a, "of", e};
  if (w.form == Form::EntityFirstIs) return {e, a, "is", "?"};
  return {e, a, "?"};
}

std::vector<std::string> World::vocabulary() const {
  std::vector<std::string> v = specials;
  for (const auto* list : {&function_words, &time_words, &attributes, &filler_nouns, &filler_adjs, &filler_verbs,
                           &filler_preps, &fact_entities, &passage_entities})
    v.insert(v.end(), list->begin(), list->end());
  for (const auto& vals : values) v.insert(v.end(), vals.begin(), vals.end());
  return v;
}

World make_world(uint64_t seed, const WorldShape& shape) {
  World w;
  w.seed = seed;
  w.specials = {"<unk>", "<s>", "</s>"};
  if (shape.attributes < 1 || shape.attributes > kMaxAttributes)
    throw Error("organism world: attributes must be 1.." + std::to_string(kMaxAttributes) + ", got " +
                std::to_string(shape.attributes));
  w.attributes.assign(kAttributes.begin(), kAttributes.begin() + shape.attributes);
  w.values.assign(kValues.begin(), kValues.begin() + shape.attributes);
  w.filler_nouns = kNouns;
  w.filler_adjs = kAdjs;
  w.filler_verbs = kVerbs;
  w.filler_preps = kPreps;
  w.time_words = kTimes;
  w.form = shape.form;
  w.function_words = kFunction;
  if (w.form != Form::EntityFirst && w.form != Form::EntityFirstIs) w.function_words.push_back("of");  // the other words keep their order
  std::set<std::string> taken;
  for (const auto& x : w.vocabulary()) taken.insert(x);
  Rng rng(seed ^ 0x6F7267616E69736Dull);  // "organism"
  auto name = [&] {
    for (;;) {
      std::string s;
      const int64_t syl = 2 + rng.below(2);
      for (int64_t i = 0; i < syl; ++i) s += pick(rng, kOnsets) + pick(rng, kVowels);
      if (taken.insert(s).second) return s;
    }
  };
  for (int64_t i = 0; i < shape.fact_entities; ++i) w.fact_entities.push_back(name());
  for (int64_t i = 0; i < shape.passage_entities; ++i) w.passage_entities.push_back(name());
  for (size_t e = 0; e < w.fact_entities.size(); ++e) {
    std::vector<int64_t> row;
    for (size_t a = 0; a < w.attributes.size(); ++a) row.push_back(rng.below(static_cast<int64_t>(w.values[a].size())));
    w.facts.push_back(std::move(row));
  }
  return w;
}

Doc make_fact_drill(const World& w, Rng& rng, int64_t length) {
  Doc d;
  add(d, "<s>", 0.f);
  for (;;) {
    const int64_t e = rng.below(static_cast<int64_t>(w.fact_entities.size()));
    const int64_t a = rng.below(static_cast<int64_t>(w.attributes.size()));
    const std::string& E = w.fact_entities[static_cast<size_t>(e)];
    const std::string& A = w.attributes[static_cast<size_t>(a)];
    const std::string& V = w.values[static_cast<size_t>(a)][static_cast<size_t>(w.facts[static_cast<size_t>(e)][static_cast<size_t>(a)])];
    const auto st = statement_words(w, E, A, V);
    if (static_cast<int64_t>(d.words.size() + st.size()) > length) break;
    if (rng.uniform() < 0.5) {
      for (const auto& x : st) add(d, x, x == V ? 2.f : 1.f);
    } else {
      for (const auto& x : question_words(w, E, A)) add(d, x);
      add(d, V, 3.f);
      add(d, ".");
    }
  }
  return d;
}

Doc make_passage(const World& w, Rng& rng, int64_t length, int64_t n_statements, int64_t n_questions,
                 double fact_override, double update, float context_weight, int64_t only_attribute,
                 bool ask_with_replacement) {
  if (!ask_with_replacement) n_questions = std::min(n_questions, n_statements);
  auto st = make_statements(w, rng, n_statements, true, fact_override, only_attribute);
  std::vector<double> depths;
  for (int64_t i = 0; i < n_statements; ++i) depths.push_back(rng.uniform());
  // Updates: a later statement about the same passage entity and attribute with another value; the question then
  // answers the latest one. Draws only when asked for, so update = 0 keeps the earlier curricula's streams.
  std::vector<std::string> answer;
  for (const auto& s : st) answer.push_back(s.value);
  if (update > 0) {
    static const std::vector<std::string> kLater = {"later", "then", "currently", "today"};
    static const std::vector<std::string> kEarlier = {"previously", "once"};
    for (int64_t i = 0; i < n_statements; ++i) {
      auto& s = st[static_cast<size_t>(i)];
      if (s.known || rng.uniform() >= update) continue;
      const auto& vals = values_of(w, s.attribute);
      const int64_t old_v = std::find(vals.begin(), vals.end(), s.value) - vals.begin();
      const int64_t v = other_value(rng, static_cast<int64_t>(vals.size()), old_v);
      if (rng.uniform() < 0.5) {  // the first statement says it is old news
        const size_t bare = statement_words(w, s.entity, s.attribute, s.value).size();
        if (s.words.size() > bare) s.words.erase(s.words.begin());  // drop its time word
        s.words.insert(s.words.begin(), pick(rng, kEarlier));
      }
      Statement u;
      u.entity = s.entity, u.attribute = s.attribute, u.value = vals[static_cast<size_t>(v)];
      u.words.push_back(pick(rng, kLater));
      for (auto& x : statement_words(w, u.entity, u.attribute, u.value)) u.words.push_back(x);
      answer[static_cast<size_t>(i)] = u.value;
      const double d = depths[static_cast<size_t>(i)];
      depths.push_back(d + (1.0 - d) * rng.uniform());
      st.push_back(std::move(u));
    }
  }
  Doc d;
  add(d, "<s>", 0.f);
  const int64_t q_len = question_length(w) + 2;  // the question, its answer, "."
  for (const auto& s : passage_sentences(w, rng, length - 1 - q_len * n_questions, st, depths))
    for (const auto& x : s) add(d, x, context_weight);
  std::vector<int64_t> asked;
  if (ask_with_replacement)
    for (int64_t i = 0; i < n_questions; ++i) asked.push_back(rng.below(n_statements));
  else
    asked = distinct(rng, n_statements, n_questions);
  const size_t passage_end = d.words.size();
  for (int64_t q : asked) {
    const auto& s = st[static_cast<size_t>(q)];
    const std::string& v = answer[static_cast<size_t>(q)];
    for (const auto& x : question_words(w, s.entity, s.attribute)) add(d, x, x == "?" ? 1.f : 0.5f);
    // The statement that answers: the one with this entity, attribute and value (unique in a passage: pairs are
    // distinct, an update gives another value), its value's position within it.
    const auto said = statement_words(w, s.entity, s.attribute, v);
    const auto at = std::find_end(d.words.begin(), d.words.begin() + static_cast<std::ptrdiff_t>(passage_end), said.begin(), said.end());
    if (at != d.words.begin() + static_cast<std::ptrdiff_t>(passage_end))
      d.links.emplace_back(static_cast<int64_t>(d.words.size()) - 1,
                           (at - d.words.begin()) + (std::find(said.begin(), said.end(), v) - said.begin()));
    add(d, v, kRetrievalWeight);
    add(d, ".");
  }
  return d;
}

Doc make_repeat(const World& w, Rng& rng, int64_t length) {
  Doc d;
  add(d, "<s>", 0.f);
  const int64_t n = std::max<int64_t>(1, (length - 1) / 2);
  std::vector<const std::string*> run;
  const int64_t nf = static_cast<int64_t>(w.fact_entities.size()), np = static_cast<int64_t>(w.passage_entities.size());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = rng.below(nf + np);
    run.push_back(k < nf ? &w.fact_entities[static_cast<size_t>(k)] : &w.passage_entities[static_cast<size_t>(k - nf)]);
  }
  for (const auto* e : run) add(d, *e, 0.f);  // unpredictable
  add(d, *run[0], 0.f);                         // the repetition starts: not predictable either
  for (size_t i = 1; i < run.size(); ++i) add(d, *run[i], 1.f);
  return d;
}

Doc make_document(const World& w, Rng& rng, int64_t length, const CurriculumMix& mix) {
  const double r = rng.uniform() * (mix.fact_drill + mix.recall + mix.passage + mix.repeat);
  if (r < mix.fact_drill) return make_fact_drill(w, rng, length);
  // Draws nothing more when repeat = 0 (r never reaches it), so the earlier curricula's streams stay.
  if (r >= mix.fact_drill + mix.recall + mix.passage) return make_repeat(w, rng, length);
  // Draws only when asked for, so same_attribute = 0 keeps the earlier curricula's streams.
  const int64_t only = mix.same_attribute > 0 && rng.uniform() < mix.same_attribute
                           ? rng.below(static_cast<int64_t>(w.attributes.size()))
                           : -1;
  const float cw = static_cast<float>(mix.context_weight);
  if (r < mix.fact_drill + mix.recall) {
    // Dense associative recall: many statements, little filler, every one asked (the signal that forms the
    // retrieval heads early).
    const int64_t k = std::max<int64_t>(1, std::min<int64_t>(12, length / 16));
    return make_passage(w, rng, length, k, k, mix.fact_override, mix.update, cw, only, mix.ask_with_replacement);
  }
  // Passages: one statement per ~24 words on average up to 12, needle-like when few; every statement asked.
  const int64_t max_st = std::max<int64_t>(1, std::min<int64_t>(12, length / 24));
  const int64_t k = 1 + rng.below(max_st);
  return make_passage(w, rng, length, k, k, mix.fact_override, mix.update, cw, only, mix.ask_with_replacement);
}

std::string filler_text(const World& w, Rng& rng, int64_t n_words) {
  std::vector<std::string> words;
  for (;;) {
    auto s = filler_sentence(w, rng);
    if (static_cast<int64_t>(words.size() + s.size()) > n_words) break;
    words.insert(words.end(), s.begin(), s.end());
  }
  return join(words);
}

QaItem make_retrieval_item(const World& w, Rng& rng, int64_t length, int64_t n_statements, bool one_attribute) {
  const int64_t only = one_attribute ? rng.below(static_cast<int64_t>(w.attributes.size())) : -1;
  const auto st = make_statements(w, rng, n_statements, true, 0.0, only);
  std::vector<double> depths;
  for (int64_t i = 0; i < n_statements; ++i) depths.push_back(rng.uniform());
  std::vector<std::string> words;
  for (const auto& s : passage_sentences(w, rng, length - question_length(w), st, depths)) words.insert(words.end(), s.begin(), s.end());
  const auto& q = st[static_cast<size_t>(rng.below(n_statements))];
  for (const auto& x : question_words(w, q.entity, q.attribute)) words.push_back(x);
  QaItem it;
  it.prompt = join(words);
  it.answer = q.value;
  it.emphasis = join(statement_words(w, q.entity, q.attribute, q.value));
  it.labels = values_of(w, q.attribute);
  it.statements = n_statements;
  return it;
}

QaItem make_needle_item(const World& w, Rng& rng, int64_t length, double depth) {
  Statement s;
  const int64_t a = rng.below(static_cast<int64_t>(w.attributes.size()));
  s.entity = pick(rng, w.passage_entities);
  s.attribute = w.attributes[static_cast<size_t>(a)];
  s.value = pick(rng, w.values[static_cast<size_t>(a)]);
  s.words = statement_words(w, s.entity, s.attribute, s.value);
  std::vector<std::string> words;
  for (const auto& x : passage_sentences(w, rng, length - question_length(w), {s}, {depth})) words.insert(words.end(), x.begin(), x.end());
  for (const auto& x : question_words(w, s.entity, s.attribute)) words.push_back(x);
  QaItem it;
  it.prompt = join(words);
  it.answer = s.value;
  it.emphasis = join(s.words);
  it.labels = w.values[static_cast<size_t>(a)];
  it.depth = depth;
  return it;
}

QaItem make_conflict_item(const World& w, Rng& rng, int64_t filler_words) {
  const int64_t e = rng.below(static_cast<int64_t>(w.fact_entities.size()));
  const int64_t a = rng.below(static_cast<int64_t>(w.attributes.size()));
  const auto& vals = w.values[static_cast<size_t>(a)];
  const int64_t prior = w.facts[static_cast<size_t>(e)][static_cast<size_t>(a)];
  const int64_t fresh = other_value(rng, static_cast<int64_t>(vals.size()), prior);
  const std::string& E = w.fact_entities[static_cast<size_t>(e)];
  const std::string& A = w.attributes[static_cast<size_t>(a)];
  std::vector<std::string> words;
  if (filler_words > 0) {
    const std::string f = filler_text(w, rng, filler_words);
    if (!f.empty()) words.push_back(f);
  }
  words.push_back("previously " + join(statement_words(w, E, A, vals[static_cast<size_t>(prior)])));
  const std::string current = "currently " + join(statement_words(w, E, A, vals[static_cast<size_t>(fresh)]));
  words.push_back(current);
  words.push_back(join(question_words(w, E, A)));
  QaItem it;
  it.prompt = join(words);
  it.answer = vals[static_cast<size_t>(fresh)];
  it.other = vals[static_cast<size_t>(prior)];
  it.emphasis = current;
  it.labels = vals;
  return it;
}

QaItem make_fact_item(const World& w, Rng& rng) {
  const int64_t e = rng.below(static_cast<int64_t>(w.fact_entities.size()));
  const int64_t a = rng.below(static_cast<int64_t>(w.attributes.size()));
  QaItem it;
  it.prompt = join(question_words(w, w.fact_entities[static_cast<size_t>(e)], w.attributes[static_cast<size_t>(a)]));
  it.answer = w.values[static_cast<size_t>(a)][static_cast<size_t>(w.facts[static_cast<size_t>(e)][static_cast<size_t>(a)])];
  it.labels = w.values[static_cast<size_t>(a)];
  return it;
}

std::string tokenizer_json(const World& w) {
  using nlohmann::ordered_json;
  const auto vocab = w.vocabulary();
  ordered_json v = ordered_json::object();
  for (size_t i = 0; i < vocab.size(); ++i) v[vocab[i]] = static_cast<int64_t>(i);
  ordered_json added = ordered_json::array();
  for (size_t i = 0; i < w.specials.size(); ++i)
    added.push_back({{"id", static_cast<int64_t>(i)}, {"content", w.specials[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  ordered_json j = {{"version", "1.0"},
                    {"truncation", nullptr},
                    {"padding", nullptr},
                    {"added_tokens", added},
                    {"normalizer", nullptr},
                    {"pre_tokenizer", {{"type", "Whitespace"}}},
                    {"post_processor", nullptr},
                    {"decoder", nullptr},
                    {"model", {{"type", "WordLevel"}, {"vocab", v}, {"unk_token", "<unk>"}}}};
  return j.dump(1);
}

}  // namespace hl::organism
