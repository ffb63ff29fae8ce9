#!/usr/bin/env bash
# Set-up and the main job on the bundled example: prune the keras2c model to 50% sparsity
# (global scope) into examples/out/, then show the stats of the result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh > /dev/null
mkdir -p examples/out
./build/tools/h5prune prune examples/keras2c_model.h5 -o examples/out/keras2c_pruned.h5 \
  --sparsity 0.5 --scope global --exclude '^/optimizer_weights/' --force
./build/tools/h5prune stats examples/out/keras2c_pruned.h5
