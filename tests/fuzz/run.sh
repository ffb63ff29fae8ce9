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
# Leaks inside libhdf5's own error paths are not h5prune's (lsan.supp); any other leak is a finding.
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"
# A huge malloc fails as it would without the sanitizer (NULL, which HDF5 reports as an error);
# memory actually used past -rss_limit_mb is still a finding.
export ASAN_OPTIONS="allocator_may_return_null=1"
# -timeout: an input that takes over 10 s is a hang; -rss_limit_mb: 2 GB of memory is a finding.
# -fork=1: one job in a child process, so that the run goes on after a finding (each is kept in
# found/) and the whole run's statistics come at the end.
rc=0
nice -n 19 "$fuzzer" "$work/corpus" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1048576 \
  -max_len=65536 -artifact_prefix="$here/found/" -print_final_stats=1 || rc=$?
found=$(find "$here/found" -type f | wc -l)
echo "run.sh: $found finding(s) in $here/found (fuzzer exit $rc)"
# A non-zero exit without any finding: the harness itself did not run.
[ "$rc" -eq 0 ] || [ "$found" -gt 0 ] || exit "$rc"
# FUZZ_FINDINGS_FATAL=0 (ctest's short run): libhdf5's own bugs (README) can turn up in any run,
# so there only a harness that does not build or run fails.
[ "$found" -eq 0 ] || [ "${FUZZ_FINDINGS_FATAL:-1}" = 0 ]
