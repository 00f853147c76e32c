#!/usr/bin/env bash
# Builds the fuzz preset (clang-14: libFuzzer, ASan + UBSan on every library) and
# runs each libFuzzer target of tests/fuzz for a bounded time, one after the
# other, on a temporary copy of its seed corpus: tests/fuzz/corpus/ is never
# modified. Exits non-zero if any target crashes, leaks, hangs or breaks an
# invariant, and prints the reproducer file and the command that replays it.
#   scripts/fuzz.sh                     every target, FUZZ_SECONDS (default 30) each
#   scripts/fuzz.sh fuzz_segment ...    only these targets
#   FUZZ_SECONDS=600 scripts/fuzz.sh    longer runs
#   FUZZ_BUILD_DIR=build/mine           build directory (default build/fuzz)
#   FUZZ_KEEP=1                         keep the working corpora (new inputs found)
# tests/fuzz/README.md: running one target by hand, keeping a crash as a test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

all_targets=(fuzz_segment fuzz_block fuzz_query fuzz_json fuzz_commit_body fuzz_jsonl fuzz_s3_xml
  fuzz_content_range)
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")
seconds=${FUZZ_SECONDS:-30}
build_dir=${FUZZ_BUILD_DIR:-build/fuzz}

# Longest input per target: large enough for the seeds and what they grow into,
# small enough to keep executions fast.
max_len() {
  case "$1" in
    fuzz_segment | fuzz_block) echo 16384 ;;
    fuzz_commit_body | fuzz_s3_xml) echo 8192 ;;
    fuzz_jsonl) echo 4096 ;;
    fuzz_query | fuzz_json) echo 1024 ;;
    *) echo 256 ;;
  esac
}

scripts/install-deps.sh --test
cmake --preset fuzz -B "$build_dir"
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]}"

work=$(mktemp -d /tmp/streamhouse-fuzz.XXXXXX)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
failed=()
for t in "${targets[@]}"; do
  bin="$build_dir/tests/fuzz/$t"
  seeds="tests/fuzz/corpus/$t"
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  [[ -d "$seeds" ]] && cp -r "$seeds/." "$work/$t/corpus/"
  args=(-max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2560
    -print_final_stats=1 -artifact_prefix="$work/$t/artifacts/")
  [[ -f "tests/fuzz/dict/$t.dict" ]] && args+=(-dict="tests/fuzz/dict/$t.dict")
  echo "fuzz: $t for ${seconds}s (max_len $(max_len "$t"), $(ls "$work/$t/corpus" | wc -l) seeds)"
  if "$bin" "${args[@]}" "$work/$t/corpus" >"$work/$t/log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "$work/$t/log" | tail -2 | sed 's/^/  /'
    passed=$((passed + 1))
  else
    failed+=("$t")
    echo "fuzz: $t FAILED; the end of its log ($work/$t/log):"
    tail -60 "$work/$t/log" | sed 's/^/  /'
    for a in "$work/$t/artifacts/"*; do
      [[ -e "$a" ]] || continue
      echo "fuzz: reproducer: $a"
      echo "fuzz: replay:     $bin $a"
    done
  fi
done

if ((${#failed[@]})); then
  echo "fuzz: failed: ${failed[*]} (logs, artifacts and corpora kept in $work)"
elif [[ -n "${FUZZ_KEEP:-}" ]]; then
  echo "fuzz: working corpora kept in $work"
else
  rm -rf "$work"
fi
echo "fuzz: ${passed} passed, ${#failed[@]} failed"
((${#failed[@]} == 0))
