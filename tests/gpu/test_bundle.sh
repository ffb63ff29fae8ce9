#!/usr/bin/env bash
# ctest gpu_bundle_self_contained: packs a GPU bundle from this build (make_bundle.sh
# --from-build) and checks that it is self-contained; then that the check fails when a
# library is missing or a binary lost its rpath (the checker can fail).
# usage: test_bundle.sh REPO BUILD_DIR BUNDLE_DIR
set -euo pipefail
repo=$1 build=$2 bundle=$3
"$repo/benchmarks/gpu/make_bundle.sh" --from-build "$build" --out "$bundle"
"$bundle/check_bundle_libs.sh" "$bundle"

broken=$(mktemp -d)
trap 'rm -rf "$broken"' EXIT
cp -a "$bundle/." "$broken/"
rm "$broken"/lib/libhdf5_serial.so.*
if "$bundle/check_bundle_libs.sh" "$broken" 2>"$broken.err"; then
  echo "FAIL: a bundle without libhdf5 passed the check" >&2; exit 1
fi
grep -q "needs libhdf5_serial.so" "$broken.err" || { echo "FAIL: the check did not name libhdf5" >&2; cat "$broken.err" >&2; exit 1; }
cp -a "$bundle/lib/." "$broken/lib/"
patchelf --remove-rpath "$broken/bin/h5prune"
if "$bundle/check_bundle_libs.sh" "$broken" 2>"$broken.err"; then
  echo "FAIL: a binary without its rpath passed the check" >&2; exit 1
fi
rm -f "$broken.err"
echo "PASS: $bundle is self-contained, and the check fails without a library or an rpath"
