#!/usr/bin/env bash
# Runs every libFuzzer target in fuzz/ for a bounded time, on a seed corpus made from ../shared.
#   bash scripts/fuzz.sh                    every target, FUZZ_SECONDS each
#   FUZZ_TARGETS="fuzz_store fuzz_model_config" FUZZ_SECONDS=600 bash scripts/fuzz.sh
#   FUZZ_RUNS=1000000 FUZZ_SECONDS=3600 bash scripts/fuzz.sh   at least a million inputs each (time as a cap)
# The targets are built in the sanitizer build (scripts/sanitize.sh configures it; clang, ASan+UBSan,
# libFuzzer coverage). Seeds are generated into $ASAN_BUILD_DIR/fuzz-seeds on every run; what the fuzzers
# find grows $ASAN_BUILD_DIR/fuzz-corpus; crashing inputs land in $ASAN_BUILD_DIR/fuzz-artifacts.
# Exits non-zero if any target crashes, leaks, times out or runs out of memory.
# Environment: FUZZ_SECONDS (default 30), FUZZ_RUNS (stop after this many inputs; default: time only), FUZZ_TARGETS (default all), ASAN_BUILD_DIR (default build-asan),
# HEADLIGHT_SHARED_DIR (default ../shared), JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}
SHARED=${HEADLIGHT_SHARED_DIR:-$(cd .. && pwd)/shared}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FUZZ_RUNS=${FUZZ_RUNS:--1}
ALL_TARGETS="fuzz_safetensors_header fuzz_safetensors_file fuzz_safetensors_index fuzz_model_config
  fuzz_llama2c_header fuzz_tokenizer_json fuzz_tokenizer_spm fuzz_tokenizer_llama2c fuzz_head_config
  fuzz_steering_spec fuzz_prompt_markers fuzz_niah_journal fuzz_store fuzz_task_jsonl fuzz_task_suite"
FUZZ_TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}

HEADLIGHT_SHARED_DIR="$SHARED" ASAN_BUILD_DIR="$ASAN_BUILD_DIR" bash scripts/sanitize.sh --configure-only
cmake --build "$ASAN_BUILD_DIR" --target hl_fuzzers -j "$JOBS"

bin="$ASAN_BUILD_DIR/bin"
seeds="$ASAN_BUILD_DIR/fuzz-seeds"
corpus="$ASAN_BUILD_DIR/fuzz-corpus"
artifacts="$ASAN_BUILD_DIR/fuzz-artifacts"
logs="$ASAN_BUILD_DIR/fuzz-logs"
rm -rf "$seeds"
mkdir -p "$corpus" "$artifacts" "$logs"
"$bin/make_seeds" "$SHARED" "$seeds"

# Targets whose parser takes a path write each input to a scratch file under $TMPDIR; on tmpfs that costs
# nothing (on disk, fsync-heavy targets such as the NIAH journal run ~10x fewer inputs per second).
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi

symbolizer=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
[ -n "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$symbolizer}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0
failed=0
printf '%-26s %12s %8s %8s %s\n' target execs cov ft result
for t in $FUZZ_TARGETS; do
  mkdir -p "$corpus/$t" "$seeds/$t"
  log="$logs/$t.log"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a parser allocating 2 GB for a small input
  # is a bug (the declared-size limits exist to prevent it).
  if "$bin/$t" -max_total_time="$FUZZ_SECONDS" -runs="$FUZZ_RUNS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/$t-" "$corpus/$t" "$seeds/$t" >"$log" 2>&1; then
    result=ok
    passed=$((passed + 1))
  else
    result="FAILED (log: $log)"
    failed=$((failed + 1))
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-26s %12s %8s %8s %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result"
  if [ "$result" != ok ]; then
    grep -A40 -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|deadly signal|uncaught exception' "$log" || tail -40 "$log"
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
