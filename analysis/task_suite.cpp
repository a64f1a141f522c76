#include "analysis/task_suite.h"
#include "analysis/jsonl_records.h"

#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include "core/fnv_hash.h"
#include "core/error.h"
#include "core/file_read.h"
#include "core/json_limits.h"

namespace hl {
namespace {

using ojson = nlohmann::ordered_json;

std::string field_err(const std::string& where, const char* field, const std::string& what) {
  return where + ": field \"" + field + "\" " + what;
}

std::string text_field(const ojson& j, const char* field, const std::string& where, bool required) {
  auto it = j.find(field);
  if (it == j.end()) {
    if (required) throw Error(where + ": missing field \"" + field + "\"");
    return {};
  }
  if (!it->is_string()) throw Error(field_err(where, field, "must be a string"));
  std::string s = it->get<std::string>();
  if (s.empty()) throw Error(field_err(where, field, "is empty"));
  return s;
}

// Code points of a UTF-8 string (spans are code-point ranges, like tokenizer offsets).
int64_t code_points(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

SuiteScorer parse_scorer(const ojson& v, const std::string& where) {
  if (!v.is_string()) throw Error(field_err(where, "scorer", "must be a string"));
  const std::string s = v.get<std::string>();
  for (SuiteScorer k : {SuiteScorer::LogProb, SuiteScorer::LabelAccuracy, SuiteScorer::JsonFormat,
                        SuiteScorer::PronounChange})
    if (s == suite_scorer_name(k)) return k;
  throw Error(field_err(where, "scorer",
                        "has unknown value \"" + s + "\" (expected logprob, label_acc, json_format or pronoun_change)"));
}

SuiteExample parse_example(const ojson& j, const std::string& where, int64_t line_no, SuiteScorer& scorer,
                           const SuiteLimits& limits) {
  SuiteExample e;
  e.prompt = text_field(j, "prompt", where, true);
  e.emphasis = text_field(j, "emphasis", where, false);
  if (j.contains("spans")) {
    if (!e.emphasis.empty()) throw Error(where + ": field \"spans\": give either \"emphasis\" or \"spans\", not both");
    const ojson& s = j["spans"];
    if (!s.is_array() || s.empty()) throw Error(field_err(where, "spans", "must be a non-empty list of [begin, end]"));
    const int64_t n = code_points(e.prompt);
    for (size_t i = 0; i < s.size(); ++i) {
      const std::string ctx = "[" + std::to_string(i) + "]";
      const ojson& r = s[i];
      if (!r.is_array() || r.size() != 2 || !r[0].is_number_integer() || !r[1].is_number_integer())
        throw Error(field_err(where, "spans", ctx + " must be [begin, end] (integers), got " + r.dump()));
      const int64_t a = r[0].get<int64_t>(), b = r[1].get<int64_t>();
      if (a < 0 || b <= a || b > n)
        throw Error(field_err(where, "spans",
                              ctx + " [" + std::to_string(a) + ", " + std::to_string(b) +
                                  ") must be a non-empty character range inside the prompt (" + std::to_string(n) +
                                  " characters)"));
      e.spans.emplace_back(a, b);
    }
  } else if (e.emphasis.empty()) {
    throw Error(where + ": missing field \"emphasis\" (or \"spans\"): profiling steers towards an emphasised span");
  } else if (e.prompt.find(e.emphasis) == std::string::npos) {
    throw Error(field_err(where, "emphasis", "\"" + e.emphasis + "\" does not occur in the prompt"));
  }
  e.target = text_field(j, "target", where, false);
  e.versus = text_field(j, "versus", where, false);
  if (j.contains("labels")) {
    const ojson& l = j["labels"];
    if (!l.is_array() || l.size() < 2) throw Error(field_err(where, "labels", "must be a list of at least 2 strings"));
    if (static_cast<int64_t>(l.size()) > limits.max_labels)
      throw Error(field_err(where, "labels", "has more than " + std::to_string(limits.max_labels) + " entries"));
    std::unordered_set<std::string> seen;
    for (size_t i = 0; i < l.size(); ++i) {
      if (!l[i].is_string() || l[i].get<std::string>().empty())
        throw Error(field_err(where, "labels", "[" + std::to_string(i) + "] must be a non-empty string"));
      if (!seen.insert(l[i].get<std::string>()).second)
        throw Error(field_err(where, "labels", "lists \"" + l[i].get<std::string>() + "\" twice"));
      e.labels.push_back(l[i].get<std::string>());
    }
  }
  SuiteScorer mine = e.labels.empty() ? SuiteScorer::LogProb : SuiteScorer::LabelAccuracy;
  if (j.contains("scorer")) mine = parse_scorer(j["scorer"], where);
  if (line_no < 0) scorer = mine;  // the first record sets the suite's scorer
  else if (mine != scorer)
    throw Error(field_err(where, "scorer",
                          std::string("is ") + suite_scorer_name(mine) + " but the suite's first record uses " +
                              suite_scorer_name(scorer) + " (a task has one score)"));
  switch (mine) {
    case SuiteScorer::LogProb:
      if (e.target.empty()) throw Error(where + ": missing field \"target\" (the logprob scorer scores its first token)");
      if (!e.labels.empty()) throw Error(field_err(where, "labels", "needs the label_acc scorer"));
      break;
    case SuiteScorer::LabelAccuracy:
      if (e.labels.empty()) throw Error(where + ": missing field \"labels\" (the label_acc scorer picks among them)");
      if (e.target.empty()) throw Error(where + ": missing field \"target\" (the correct label)");
      if (std::find(e.labels.begin(), e.labels.end(), e.target) == e.labels.end())
        throw Error(field_err(where, "target", "\"" + e.target + "\" is not one of the labels"));
      if (!e.versus.empty()) throw Error(field_err(where, "versus", "does not apply to the label_acc scorer"));
      break;
    case SuiteScorer::JsonFormat:
      if (e.target.empty())
        throw Error(where + ": missing field \"target\" (the json_format scorer checks the answer holds it)");
      [[fallthrough]];
    case SuiteScorer::PronounChange:
      if (!e.versus.empty()) throw Error(field_err(where, "versus", "does not apply to a generation scorer"));
      if (!e.labels.empty()) throw Error(field_err(where, "labels", "does not apply to a generation scorer"));
      break;
  }
  if (j.contains("id")) {
    const ojson& id = j["id"];
    if (id.is_string() && !id.get<std::string>().empty()) e.id = id.get<std::string>();
    else if (id.is_number_integer()) e.id = id.dump();
    else throw Error(field_err(where, "id", "must be a non-empty string or an integer"));
  }
  static const std::unordered_set<std::string> known = {"prompt", "emphasis", "spans",  "target", "versus",
                                                        "labels", "scorer",   "id"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!known.count(it.key())) e.extra[it.key()] = it.value();
  return e;
}

}  // namespace

const char* suite_scorer_name(SuiteScorer s) {
  switch (s) {
    case SuiteScorer::LogProb: return "logprob";
    case SuiteScorer::LabelAccuracy: return "label_acc";
    case SuiteScorer::JsonFormat: return "json_format";
    case SuiteScorer::PronounChange: return "pronoun_change";
  }
  return "?";
}

bool scorer_generates(SuiteScorer s) { return s == SuiteScorer::JsonFormat || s == SuiteScorer::PronounChange; }

TaskSuite parse_suite_jsonl(std::string_view text, const std::string& source, const std::string& name,
                            const SuiteLimits& limits) {
  if (static_cast<int64_t>(text.size()) > limits.max_bytes)
    throw Error(source + ": suite file larger than " + std::to_string(limits.max_bytes) + " bytes");
  TaskSuite out;
  out.name = name;
  out.source = source;
  std::unordered_set<std::string> ids;
  for_each_jsonl_record(text, source, limits.max_line_bytes, limits.max_records,
                        [&](std::string_view line, const std::string& where, int64_t line_no) {
    const ojson j = parse_ordered_json_bounded(line, where);
    if (!j.is_object()) throw Error(where + ": a record must be a JSON object");
    SuiteExample e = parse_example(j, where, out.examples.empty() ? -1 : line_no, out.scorer, limits);
    if (e.id.empty()) e.id = "line " + std::to_string(line_no);
    if (!ids.insert(e.id).second) throw Error(where + ": field \"id\": duplicate id " + e.id);
    out.examples.push_back(std::move(e));
  });
  if (out.examples.empty()) throw Error(source + ": no records");
  return out;
}

TaskSuite load_suite_file(const std::filesystem::path& path, const SuiteLimits& limits) {
  return parse_suite_jsonl(read_file_bounded(path, limits.max_bytes, "suite file"), path.string(),
                           path.stem().string(), limits);
}

nlohmann::ordered_json example_to_json(const SuiteExample& e, SuiteScorer scorer) {
  ojson j = ojson::object();
  j["id"] = e.id;
  j["prompt"] = e.prompt;
  if (!e.emphasis.empty()) j["emphasis"] = e.emphasis;
  if (!e.spans.empty()) {
    ojson s = ojson::array();
    for (auto [a, b] : e.spans) s.push_back({a, b});
    j["spans"] = s;
  }
  if (!e.target.empty()) j["target"] = e.target;
  if (!e.versus.empty()) j["versus"] = e.versus;
  if (!e.labels.empty()) j["labels"] = e.labels;
  j["scorer"] = suite_scorer_name(scorer);
  for (auto it = e.extra.begin(); it != e.extra.end(); ++it) j[it.key()] = it.value();
  return j;
}

std::string suite_to_jsonl(const TaskSuite& s) {
  std::string out;
  for (const auto& e : s.examples) out += example_to_json(e, s.scorer).dump() + "\n";
  return out;
}

std::string suite_content_hash(const TaskSuite& s) {
  return fnv1a_hex(suite_to_jsonl(s));  // free fields included: they are part of what the user gave
}

}  // namespace hl
