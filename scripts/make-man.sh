#!/usr/bin/env bash
# Writes the h5prune(1) manual page from the binary's own --help texts (help2man), with one
# section per command, so the installed manual says exactly what --help says.
# usage: scripts/make-man.sh PATH/TO/h5prune OUT.1
set -euo pipefail
bin=$1 out=$2
include=$(mktemp)
trap 'rm -f "$include"' EXIT
{
  echo "[COMMANDS]"
  for cmd in prune stats densify sweep "slurm sweep" "slurm status" "slurm collect" log show diff get alias rm verify gc; do
    echo ".SS h5prune $cmd"
    echo ".nf"
    # roff: a leading '.' or "'" starts a request; a backslash is an escape.
    "$bin" $cmd --help | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
    echo ".fi"
  done
  echo "[SEE ALSO]"
  echo "The guides installed in /usr/share/doc/h5prune: CLI.md, REGISTRY.md, SLURM.md, METRICS.md, FORMATS.md;"
  echo "alert rules and a Grafana dashboard in /usr/share/h5prune/monitoring."
} > "$include"
help2man --no-info --no-discard-stderr --name "exact, reproducible magnitude pruning of HDF5 weight files" \
  --include "$include" --output "$out" "$bin"
