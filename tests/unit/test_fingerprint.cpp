// Experiment fingerprints: differences named by dotted path; a journal bound to one fingerprint refuses another.
#include <doctest/doctest.h>

#include <fstream>

#include "analysis/fingerprint.h"
#include "analysis/niah.h"
#include "core/error.h"
#include "scratch_dir.h"

using nlohmann::json;

TEST_CASE("fingerprint_differences names every differing field by its dotted path") {
  const json a = {{"model", {{"weights", "aa"}, {"tokenizer", "t"}}}, {"max_new", 30}, {"method", "guide"}};
  json b = a;
  CHECK(hl::fingerprint_differences(a, b).empty());
  b["model"]["weights"] = "bb";
  b["max_new"] = 31;
  b.erase("method");
  b["extra"] = 1;
  const auto d = hl::fingerprint_differences(a, b);
  CHECK(d == std::vector<std::string>{"max_new", "method", "model.weights", "extra"});
}

TEST_CASE("NIAH journal: fingerprint bound on first use, another refused, the file locked while open") {
  hl_test::ScratchDir tmp("fp");
  const std::string out = tmp.file("sweep.csv");
  const json fa = {{"steering", {{"method", "guide"}}}, {"max_new", 30}};
  const json fb = {{"steering", {{"method", "pasta"}}}, {"max_new", 30}};
  {
    hl::NiahJournal j(out, fa.dump());
    hl::NiahResult r;
    r.length = 256;
    r.depth = 50;
    r.answer = "dolores";
    j.append(r);
    // A second open of the same journal (another sweep) is refused while this one holds it.
    CHECK_THROWS_WITH_AS(hl::NiahJournal(out, fa.dump()), doctest::Contains("in use by another headlight process"),
                         hl::Error);
  }
  CHECK(hl::NiahJournal(out, fa.dump()).results().size() == 1);
  CHECK_THROWS_WITH_AS(hl::NiahJournal(out, fb.dump()), doctest::Contains("steering.method"), hl::Error);
  CHECK(hl::NiahJournal(out).results().size() == 1);  // untouched by the refusal

  // A journal with results but no fingerprint file cannot be resumed under a fingerprint.
  std::filesystem::remove(hl::fingerprint_path(out));
  CHECK_THROWS_WITH_AS(hl::NiahJournal(out, fa.dump()), doctest::Contains("no fingerprint file"), hl::Error);
  // An empty journal is rebound to the new experiment.
  const std::string fresh = tmp.file("fresh.csv");
  { hl::NiahJournal j(fresh, fa.dump()); }
  CHECK_NOTHROW(hl::NiahJournal(fresh, fb.dump()));
}

TEST_CASE("file_fingerprint changes with one byte") {
  hl_test::ScratchDir tmp("fpf");
  const auto a = tmp.write("a.bin", std::string(5000, 'x'));
  const std::string h1 = hl::file_fingerprint(a);
  std::string s(5000, 'x');
  s[4321] = 'y';
  tmp.write("a.bin", s);
  CHECK(hl::file_fingerprint(a) != h1);
  CHECK_THROWS_AS(hl::file_fingerprint(tmp.dir / "missing"), hl::Error);
}
