#!/usr/bin/env bash
# Runs each cargo-fuzz target of core/fuzz for a bounded time (issue 10
# item 19), starting from the committed seed corpus.
#
#   npm run fuzz                      # every target, 60 s each
#   FUZZ_SECONDS=600 npm run fuzz     # longer
#   npm run fuzz -- path_normaliser   # some targets only
#
# The corpus libFuzzer grows is written to a temporary copy, deleted at the
# end, so nothing generated lands in git. An input that makes a target fail
# is kept in core/fuzz/artifacts/<target>/ (ignored by git): turn it into a
# regression test next to the code it concerns. Needs the nightly toolchain
# and cargo-fuzz (`cargo install cargo-fuzz`).
set -uo pipefail

seconds="${FUZZ_SECONDS:-60}"
all=(policy_loader path_normaliser argument_rules json_pointer values_reader tool_pins_files)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi

cd "$(dirname "$0")/../core" || exit 1
# No sanitizer: the core has no unsafe code, and without ASan a run makes
# several times more executions. Release with debug assertions (cargo-fuzz's
# default), so overflow checks stay on.
flags=(--sanitizer none)
cargo +nightly fuzz build "${flags[@]}" || exit 1

work="$(mktemp -d "${TMPDIR:-/tmp}/execlave-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

failed=()
summary=()
for t in "${targets[@]}"; do
  cp -r "fuzz/corpus/$t" "$work/$t"
  echo "== $t: ${seconds}s from $(ls "fuzz/corpus/$t" | wc -l) seed(s)"
  cargo +nightly fuzz run "${flags[@]}" "$t" "$work/$t" -- \
    -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 >"$work/$t.log" 2>&1
  status=$?
  done_line="$(grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs)' "$work/$t.log" | tail -1)"
  execs="$(grep -E '^stat::number_of_executed_units' "$work/$t.log" | awk '{print $2}')"
  if [ $status -ne 0 ]; then
    failed+=("$t")
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|Base64' "$work/$t.log" | head -20
    summary+=("$t: FAILED after ${execs:-?} executions (input in core/fuzz/artifacts/$t/)")
  else
    summary+=("$t: ${execs:-?} executions, no failure  [${done_line}]")
  fi
done

echo
printf '%s\n' "${summary[@]}"
[ ${#failed[@]} -eq 0 ] || { echo "failing targets: ${failed[*]}"; exit 1; }
