#include "analysis/organism/eval.h"
#include "core/error.h"
namespace hl::organism {
nlohmann::ordered_json evaluate(const EvalOptions&, const CancelToken*, const std::function<void(const std::string&)>&) { throw Error("todo"); }
std::string eval_report_text(const nlohmann::ordered_json&) { return ""; }
void write_data_files(const std::filesystem::path&, const std::filesystem::path&, int64_t) { throw Error("todo"); }
}
