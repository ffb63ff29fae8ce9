#!/bin/bash
# How fast the kernel takes a 4 GB file into the page cache, by the size of each write(2): the
# probe behind h5prune's 128 KiB writes (kWriteBytes, benchmarks/RESULTS.md "seventh session").
#
#   write_size_probe.sh DIR [GIB]
#
# For each size, removes the previous file, waits 8 s, and times dd from /dev/zero (no sync: the
# page cache is what is measured). Needs GIB (default 4) GiB free in DIR; the file is deleted.
set -euo pipefail
dir=${1:?usage: write_size_probe.sh DIR [GIB]}
gib=${2:-4}
f="$dir/write_size_probe.bin"
trap 'rm -f "$f"' EXIT
for kib in 64 128 256 512 1024 2048 4096; do
  rm -f "$f"
  sleep 8
  start=$(date +%s%N)
  dd if=/dev/zero of="$f" bs=${kib}K count=$((gib * 1024 * 1024 / kib)) status=none
  ms=$((($(date +%s%N) - start) / 1000000))
  printf '%5d KiB writes: %d.%02d s for %d GiB\n' "$kib" $((ms / 1000)) $((ms % 1000 / 10)) "$gib"
done
