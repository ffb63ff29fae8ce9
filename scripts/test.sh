#!/usr/bin/env bash
# Set-up and the whole test suite: installs the Debian packages, builds, runs ctest
# (GoogleTest unit tests and the pytest end-to-end suite; GPU tests skip without a device),
# then builds the libFuzzer target with clang and fuzzes for 20 s (tests/fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure --timeout 900 "$@")
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DH5PRUNE_ENABLE_CUDA=OFF \
  -DH5PRUNE_FUZZ=ON > /dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_inputs
cd build-fuzz
ctest --output-on-failure -R fuzz_short
