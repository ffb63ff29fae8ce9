#!/bin/bash
# Whether this machine's page cache favours a program that writes at once: h5repack and h5prune
# (default settings, and --memory-limit 256M) on one model, each run with its previous output
# removed right before it or WAIT seconds before it (a VM that reports freed memory to its host
# takes it back after about 2 s, and writing into it afterwards is slow; benchmarks/RESULTS.md,
# eighth session).
#
#   output_wait_probe.sh BIN DIR [PARAMS] [WAIT] [ROUNDS]
#
# Generates a float32 model of PARAMS weights (default 1e9) in DIR with make_model.py, prints each
# run's wall time, and deletes everything at the end. Needs about 3x the model's size free in DIR.
set -euo pipefail
bin=${1:?usage: output_wait_probe.sh BIN DIR [PARAMS] [WAIT] [ROUNDS]}
dir=${2:?usage: output_wait_probe.sh BIN DIR [PARAMS] [WAIT] [ROUNDS]}
params=${3:-1e9}
wait=${4:-2}
rounds=${5:-3}
here=$(cd "$(dirname "$0")" && pwd)
model="$dir/output_wait_probe_model.h5"
out="$dir/output_wait_probe_out.h5"
trap 'rm -f "$model" "$out"' EXIT
/usr/bin/python3 "$here/make_model.py" "$model" --params "$params" --quiet
timed() {  # label, command...
  local label=$1
  shift
  local start ms
  start=$(date +%s%N)
  "$@" > /dev/null
  ms=$((($(date +%s%N) - start) / 1000000))
  printf '%-34s %d.%02d s\n' "$label" $((ms / 1000)) $((ms % 1000 / 10))
}
for round in $(seq "$rounds"); do
  for pause in 0 "$wait"; do
    rm -f "$out"; sleep "$pause"; timed "h5repack, removed ${pause} s before" h5repack "$model" "$out"
    rm -f "$out"; sleep "$pause"; timed "h5prune, removed ${pause} s before" \
      "$bin" prune "$model" -o "$out" --sparsity 0.9 --scope global --force --quiet
    rm -f "$out"; sleep "$pause"; timed "h5prune 256M, removed ${pause} s before" \
      "$bin" prune "$model" -o "$out" --sparsity 0.9 --scope global --force --quiet --memory-limit 256M
  done
done
