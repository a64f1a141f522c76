// Task suites (analysis/task_suite.h, suite_builtin.h), their scorers (task_scorers.h), and what profiling
// keeps of them (profile_scores.h, profile_job.h): the format, the converters from the shared CounterFact and
// pair-QA files, the project's suites in assets/, bad records named by file, line and field.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "analysis/profile_job.h"
#include "analysis/profile_scores.h"
#include "analysis/suite_builtin.h"
#include "analysis/task_scorers.h"
#include "core/error.h"
#include "unit/test_hostile_support.h"

using namespace hl;

namespace {

std::filesystem::path shared() { return HEADLIGHT_SHARED_DIR; }
std::filesystem::path assets() { return std::filesystem::path(HEADLIGHT_SOURCE_DIR) / "assets"; }

std::string error_of(const std::string& text) {
  return hostile::error_of([&] { parse_suite_jsonl(text, "s.jsonl", "s"); });
}

bool has(const std::string& message, const std::string& part) {
  INFO(message);
  return message.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("task suite: the JSONL format, default scorers, ids and free fields") {
  const std::string text =
      "{\"prompt\": \"Alice likes tea. Bob likes coffee. Alice likes\", \"emphasis\": \"Alice likes tea.\", "
      "\"target\": \" tea\", \"versus\": \" coffee\", \"source\": \"hand\"}\n"
      "\n"
      "{\"id\": 7, \"prompt\": \"Bob likes coffee. Bob likes\", \"spans\": [[0, 17]], \"target\": \" coffee\"}\n";
  const TaskSuite s = parse_suite_jsonl(text, "s.jsonl", "drinks");
  CHECK(s.name == "drinks");
  CHECK(s.scorer == SuiteScorer::LogProb);
  REQUIRE(s.examples.size() == 2);
  CHECK(s.examples[0].id == "line 1");
  CHECK(s.examples[0].emphasis == "Alice likes tea.");
  CHECK(s.examples[0].versus == " coffee");
  CHECK(s.examples[0].extra["source"] == "hand");
  CHECK(s.examples[1].id == "7");
  CHECK(s.examples[1].spans == std::vector<std::pair<int64_t, int64_t>>{{0, 17}});
  CHECK(s.examples[1].versus.empty());
  // Written back and read again: the same examples, the same hash; another target: another hash.
  const TaskSuite again = parse_suite_jsonl(suite_to_jsonl(s), "t.jsonl", "drinks");
  CHECK(suite_content_hash(again) == suite_content_hash(s));
  TaskSuite changed = s;
  changed.examples[1].target = " tea";
  CHECK(suite_content_hash(changed) != suite_content_hash(s));

  const TaskSuite labels = parse_suite_jsonl(
      R"({"prompt": "Ann is a nurse.\nAnn works as a", "emphasis": "Ann is a nurse.", "target": "nurse", "labels": ["nurse", "dentist"]})",
      "l.jsonl", "l");
  CHECK(labels.scorer == SuiteScorer::LabelAccuracy);
  CHECK_FALSE(scorer_generates(labels.scorer));
  const TaskSuite gen = parse_suite_jsonl(
      R"({"prompt": "x y\nSay it:", "emphasis": "Say it:", "scorer": "pronoun_change"})", "g.jsonl", "g");
  CHECK(gen.scorer == SuiteScorer::PronounChange);
  CHECK(scorer_generates(gen.scorer));
}

TEST_CASE("task suite: bad records are refused as FILE:LINE: field ...") {
  const std::string ok = R"({"prompt": "a b c", "emphasis": "b", "target": " c"})";
  CHECK(has(error_of(ok + "\n{\"emphasis\": \"b\", \"target\": \"c\"}"), "s.jsonl:2: missing field \"prompt\""));
  CHECK(has(error_of(R"({"prompt": "a b c", "target": " c"})"), "s.jsonl:1: missing field \"emphasis\""));
  CHECK(has(error_of(R"({"prompt": "a b c", "emphasis": "z", "target": " c"})"),
            "s.jsonl:1: field \"emphasis\" \"z\" does not occur"));
  CHECK(has(error_of(R"({"prompt": "a b c", "spans": [[2, 9]], "target": " c"})"), "s.jsonl:1: field \"spans\" [0] [2, 9)"));
  CHECK(has(error_of(R"({"prompt": "a b c", "spans": [[2, 1]], "target": " c"})"), "field \"spans\""));
  CHECK(has(error_of(R"({"prompt": "a b c", "emphasis": "b", "spans": [[0, 1]], "target": " c"})"),
            "s.jsonl:1: field \"spans\": give either"));
  CHECK(has(error_of(R"({"prompt": "a b c", "emphasis": "b"})"), "s.jsonl:1: missing field \"target\""));
  CHECK(has(error_of(R"({"prompt": "a b c", "emphasis": "b", "target": 3})"), "s.jsonl:1: field \"target\" must be a string"));
  CHECK(has(error_of(R"({"prompt": "a b c", "emphasis": "b", "target": "x", "labels": ["y", "z"]})"),
            "s.jsonl:1: field \"target\" \"x\" is not one of the labels"));
  CHECK(has(error_of(R"({"prompt": "a b c", "emphasis": "b", "target": "y", "labels": ["y", "y"]})"), "lists \"y\" twice"));
  CHECK(has(error_of(ok + "\n" + R"({"prompt": "a b c", "emphasis": "b", "scorer": "pronoun_change"})"),
            "s.jsonl:2: field \"scorer\" is pronoun_change but the suite's first record uses logprob"));
  CHECK(has(error_of(R"({"prompt": "a b c", "emphasis": "b", "scorer": "bleu"})"), "field \"scorer\" has unknown value"));
  CHECK(has(error_of(R"({"prompt": "a b c", "emphasis": "b", "scorer": "json_format"})"), "missing field \"target\""));
  CHECK(has(error_of(R"({"id": "x", "prompt": "a b", "emphasis": "b", "target": "c"})" "\n"
                     R"({"id": "x", "prompt": "a b", "emphasis": "b", "target": "c"})"),
            "s.jsonl:2: field \"id\": duplicate id x"));
  CHECK(has(error_of("[1, 2]"), "s.jsonl:1: a record must be a JSON object"));
  CHECK(has(error_of("{\"prompt\": "), "s.jsonl:1"));
  CHECK(has(error_of("\n\n"), "s.jsonl: no records"));
}

TEST_CASE("task suite: the shared CounterFact and pair-QA records convert to suite examples") {
  const auto cf_path = shared() / "data" / "counterfact" / "counterfact_rewrites.jsonl";
  const TaskSuite cf = suite_from_counterfact(load_task_file(cf_path), cf_path.string());
  CHECK(cf.name == "counterfact");
  CHECK(cf.examples.size() > 21000);
  CHECK(cf.examples.size() <= 21919);
  const SuiteExample& e = cf.examples[0];
  CHECK(e.id == "cf 0");
  CHECK(e.prompt ==
        "Previously The mother tongue of Danielle Darrieux is French. Currently The mother tongue of Danielle Darrieux "
        "is English. The mother tongue of Danielle Darrieux is");
  CHECK(e.emphasis == "The mother tongue of Danielle Darrieux is English");
  CHECK(e.target == " English");
  CHECK(e.versus == " French");
  // Multi-word objects split at the last common word boundary.
  const SuiteExample& e2 = cf.examples[2];
  CHECK(e2.target == " piano");
  CHECK(e2.versus == " guitar");
  // The converted suite is a valid suite: it survives its own parser.
  TaskSuite head = cf;
  head.examples.resize(50);
  CHECK(parse_suite_jsonl(suite_to_jsonl(head), "cf.jsonl", "counterfact").examples.size() == 50);

  const auto qa_path = shared() / "data" / "profiling" / "pair_qa_synthetic.jsonl";
  const TaskSuite qa = suite_from_pair_qa(load_task_file(qa_path), qa_path.string());
  REQUIRE(qa.examples.size() == 200);
  CHECK(qa.examples[0].id == "qa 1.1");
  CHECK(qa.examples[0].prompt ==
        "Context: The Golden Dunes shift shape with every desert wind. The Azure Orchards produce berries that glow "
        "under moonlight.\nQuestion: What do the Azure Orchards produce?\nAnswer:");
  CHECK(qa.examples[0].emphasis == "The Azure Orchards produce berries that glow under moonlight.");
  CHECK(qa.examples[0].target == " berries that glow under moonlight");
  CHECK(qa.examples[0].versus == " shape with every desert wind");
  CHECK(qa.examples[1].emphasis == "The Golden Dunes shift shape with every desert wind.");

  // resolve_suite: built-in names from ../shared and assets/, files by path, unknown names refused.
  const SuiteSources src{shared(), assets()};
  CHECK(resolve_suite("pair_qa", src).examples.size() == 200);
  CHECK(has(hostile::error_of([&] { resolve_suite("nope", src); }), "neither a built-in suite"));
  CHECK(load_any_task_file(qa_path).examples.size() == 200);
}

TEST_CASE("task suite: the project's suites in assets/ load with their scorers") {
  const SuiteSources src{shared(), assets()};
  const TaskSuite bios = resolve_suite("bios", src);
  CHECK(bios.scorer == SuiteScorer::LabelAccuracy);
  CHECK(bios.examples.size() == 40);
  for (const auto& e : bios.examples) CHECK(e.prompt.find(e.emphasis) == 0);  // the first sentence is emphasised
  const TaskSuite js = resolve_suite("json_format", src);
  CHECK(js.scorer == SuiteScorer::JsonFormat);
  CHECK(js.examples[0].emphasis.find("generate the answer as json format") != std::string::npos);
  CHECK(resolve_suite("pronoun_change", src).scorer == SuiteScorer::PronounChange);
}

TEST_CASE("task scorers: first-token margins, label accuracy, JSON format and pronoun change") {
  const float lp[2] = {-1.5f, -4.0f};
  CHECK(logprob_margin(lp, true) == doctest::Approx(2.5));
  CHECK(logprob_margin(lp, false) == doctest::Approx(-1.5));
  CHECK(label_accuracy({-3, -1, -2}, 1) == 1.0);
  CHECK(label_accuracy({-3, -1, -2}, 2) == 0.0);
  CHECK(label_accuracy({-1, -1}, 1) == 0.0);  // a tie goes to the first label

  auto j = json_format_score(R"(Sure: {"name": "Ann", "occupation": "Nurse"} done)", "nurse");
  CHECK(j.format_ok);
  CHECK(j.prediction_ok);
  CHECK(j.score() == 1.0);
  j = json_format_score(R"({'name': 'Ann', 'occupation': 'nurse'})", "nurse");  // json.loads refuses single quotes
  CHECK_FALSE(j.format_ok);
  CHECK(j.score() == 0.0);
  j = json_format_score(R"(x {"a": {"b": 1}} {"occupation": "a dentist"})", "dentist");
  CHECK(j.format_ok);
  CHECK(j.prediction_ok);
  j = json_format_score(R"({"occupation": "teacher"})", "nurse");
  CHECK(j.score() == 0.5);

  CHECK(pronoun_change_score("They are a nurse; their job is hard.").score() == 1.0);
  auto p = pronoun_change_score("They said her job is hard.");
  CHECK(p.acc);
  CHECK_FALSE(p.all);
  CHECK(pronoun_change_score("She is a nurse.").score() == 0.0);
  CHECK(pronoun_change_score("The theme, the shell").score() == 1.0);  // words, not substrings
}

TEST_CASE("profile scores: unit metrics round-trip into per-task means and spreads") {
  UnitScores u;
  u.heads = {{0, 1}, {2, 3}};
  u.base = {1.0, 2.0};
  u.steered = {{1.5, 2.5}, {0.0, 4.0}};
  TaskExampleScores t;
  t.task = "T";
  t.scorer = "logprob";
  t.heads = {{0, 1}, {2, 3}};
  t.base.assign(4, 0.0);
  t.steered.assign(2, std::vector<double>(4, 0.0));
  add_metrics(t, unit_metrics(u, 2));  // the second example block of a 4-example task
  add_metrics(t, unit_metrics({u.heads, {3.0, 3.0}, {{3.0, 3.0}, {1.0, 1.0}}}, 0));
  CHECK(t.base == std::vector<double>{3, 3, 1, 2});
  CHECK(t.steered[1] == std::vector<double>{1, 1, 0, 4});
  const MeanSpread m = mean_spread(t.steered[1]);
  CHECK(m.mean == doctest::Approx(1.5));
  CHECK(m.std == doctest::Approx(std::sqrt(3.0)));
  CHECK(m.n == 4);
  const auto j = scores_json({{"alpha", 0.01}}, {t});
  CHECK(j["tasks"]["T"]["n"] == 4);
  CHECK(j["tasks"]["T"]["baseline"]["mean"].get<double>() == doctest::Approx(2.25));
  CHECK(j["tasks"]["T"]["heads"][1]["delta"].get<double>() == doctest::Approx(1.5 - 2.25));
  const auto back = task_scores_from_json(nlohmann::json::parse(j.dump()), "scores.json");
  REQUIRE(back.size() == 1);
  CHECK(back[0].heads[1] == HeadRef{2, 3});
  CHECK(back[0].scores[1] == doctest::Approx(1.5));
  CHECK(has(hostile::error_of([&] { add_metrics(t, {{"L9H9@0", 1.0}}); }), "names no candidate head"));
  CHECK(has(hostile::error_of([&] { add_metrics(t, {{"base@4", 1.0}}); }), "names no example"));
  CHECK(has(hostile::error_of([] { task_scores_from_json(nlohmann::json::object(), "x.json"); }), "x.json: field \"tasks\""));
}

TEST_CASE("profile job: the fingerprint covers every setting and the differences are named") {
  ProfileJobSpec s;
  s.model_config_hash = "c";
  s.model_weights_id = "w";
  s.layers = 5;
  s.heads_per_layer = 8;
  s.suites = {{"bios", "h1", "label_acc", 20}};
  const auto a = profile_job_document(s);
  CHECK(profile_job_document(s)["fingerprint"] == a["fingerprint"]);
  ProfileJobSpec t = s;
  t.alpha = 0.1;
  t.suites[0].hash = "h2";
  const auto b = profile_job_document(t);
  CHECK(b["fingerprint"] != a["fingerprint"]);
  CHECK(profile_job_differences(a, b) == std::vector<std::string>{"alpha", "suites[0].hash"});
  t = s;
  t.model_weights_id = "v";
  CHECK(profile_job_differences(a, profile_job_document(t)) == std::vector<std::string>{"model.weights"});
}
