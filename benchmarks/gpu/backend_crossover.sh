#!/usr/bin/env bash
# Where the device pays: the wall time of whole `prune` runs (process start to exit, so the
# device's start, page-locking and release are in) on each model, on the CPU and on CUDA,
# median of 3. `--backend auto` picks the device whenever there is one; this says from which
# size that is also faster. Run by check.sh; the numbers report, nothing passes or fails on them.
# usage: backend_crossover.sh H5PRUNE WORKDIR MODEL...
set -uo pipefail
bin=$1 work=$2
shift 2
now() { date +%s.%N; }
for model in "$@"; do
  line="$(basename "$model"):"
  for backend in cpu cuda; do
    times=()
    for _ in 1 2 3; do
      rm -f "$work/crossover.h5"
      t0=$(now)
      "$bin" prune "$model" -o "$work/crossover.h5" --backend "$backend" --sparsity 0.9 --scope global --quiet >/dev/null ||
        { echo "backend_crossover: $backend failed on $model" >&2; exit 1; }
      times+=("$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')")
    done
    line+=" $backend $(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p) s"
  done
  echo "$line"
done
rm -f "$work/crossover.h5"
