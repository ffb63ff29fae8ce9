#!/usr/bin/env bash
# Set-up and the whole test suite: installs the Debian packages, builds, runs ctest
# (GoogleTest unit tests and the pytest end-to-end suite). GPU tests skip without a device.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 "$@"
