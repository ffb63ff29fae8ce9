#!/bin/bash
# Runs the libFuzzer target for SECONDS (default 20) on one job at the lowest priority, from the
# kept corpus plus the real fixtures when present; new crashers land in tests/fuzz/found/.
# Usage: tests/fuzz/run.sh FUZZER [SECONDS]
set -euo pipefail
fuzzer=$1
seconds=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/h5prune_fuzz_run.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$here/found"
cp "$here"/corpus/*/* "$work/corpus/"
fixtures="$here/../../../shared/fixtures/keras"
if [ -d "$fixtures" ]; then
  find "$fixtures" -name '*.h5' -size -200k -exec cp {} "$work/corpus/" \;
fi
# -timeout: an input that takes over 10 s is a hang; -rss_limit_mb: 2 GB of memory is a finding.
exec nice -n 19 "$fuzzer" "$work/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -max_len=65536 -artifact_prefix="$here/found/" -print_final_stats=1
