#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 20) on a copy of its seed
# corpus. Exits non-zero on the first crash, leak or abort; the reproducer
# is left in tests/fuzz/crashes/. Usage: run.sh FUZZ_BUILD_DIR [SECONDS]
set -euo pipefail
build=${1:?usage: run.sh FUZZ_BUILD_DIR [SECONDS]}
secs=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/crashes"
for t in text metadata index lookup zip; do
  work=$(mktemp -d)
  cp -r "$here/corpus/$t/." "$work/"
  echo "fuzz_$t: ${secs}s"
  # the fuzzer's own status, not a pipeline's: `cmd | grep || true` would
  # report true's, and a crash would pass
  status=0
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 \
    -artifact_prefix="$here/crashes/$t-" -print_final_stats=1 "$work" \
    >"$work.log" 2>&1 || status=$?
  grep -E "stat::number_of_executed_units|ERROR|Done|crash" "$work.log" || true
  rm -rf "$work" "$work.log"
  if [[ $status -ne 0 ]]; then echo "fuzz_$t failed"; exit 1; fi
done
echo "fuzz: all targets clean"
