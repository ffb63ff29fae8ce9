#!/usr/bin/env bash
# Builds the self-contained GPU bundle that benchmarks/gpu/check.sh runs on a lent GPU machine
# (no GPU needed here): the binaries for sm_90 (H100/H200), the shared libraries they need
# beside them (rpath $ORIGIN), a small model with the hash of its CPU prune, googletest's
# sources for check.sh --build, and the scripts. See benchmarks/gpu/README.md.
# usage: benchmarks/gpu/make_bundle.sh [--from-build DIR] [--out DIR] [--jobs N]
set -euo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$repo/gpu-bundle
build=$repo/build-bundle
from_build=""
jobs=2
while (($#)); do
  case $1 in
    --from-build) from_build=$(cd "$2" && pwd); shift 2 ;;
    --out) out=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h | --help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "make_bundle.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
limit_mib=64  # what the device tool carries, working tree included
say() { echo "make_bundle: $*"; }

# ---- Build (sm_90 only; Boost, GoogleTest, libstdc++ and libgcc linked statically)
if [[ -z $from_build ]]; then
  say "configuring $build (sm_90, Release)"
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DBoost_USE_STATIC_LIBS=ON -DCMAKE_EXE_LINKER_FLAGS="-static-libstdc++ -static-libgcc" >/dev/null
  say "building (-j$jobs)"
  cmake --build "$build" -j"$jobs" --target h5prune test_backend_parity test_cuda_launchers bench_cuda_kernels gpu_probe
  from_build=$build
fi
bins=("$from_build/tools/h5prune" "$from_build/tests/test_backend_parity" "$from_build/tests/test_cuda_launchers"
      "$from_build/benchmarks/bench_cuda_kernels" "$from_build/benchmarks/gpu_probe")
for b in "${bins[@]}"; do
  [[ -x $b ]] || { echo "make_bundle.sh: $b is missing (a CUDA build is needed: nvcc and -DH5PRUNE_ENABLE_CUDA=ON)" >&2; exit 1; }
done

# ---- Binaries and the shared libraries they load (glibc's own libraries excepted: the target
# machine's glibc must be at least as new as this one's; see check_bundle_libs.sh)
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/data" "$out/src"
for b in "${bins[@]}"; do
  cp "$b" "$out/bin/"
  strip --strip-unneeded "$out/bin/$(basename "$b")"
done
glibc_re='^(linux-vdso\.so|libc\.so|libm\.so|libpthread\.so|libdl\.so|librt\.so|libresolv\.so|libutil\.so|ld-linux-x86-64\.so)'
for b in "$out"/bin/*; do
  ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | while read -r name path; do
    [[ $name =~ $glibc_re ]] && continue
    [[ -e $out/lib/$name ]] || cp -L "$path" "$out/lib/$name"
  done
done
for l in "$out"/lib/*; do chmod u+w "$l"; strip --strip-unneeded "$l"; patchelf --set-rpath '$ORIGIN' "$l"; done
for b in "$out"/bin/*; do patchelf --set-rpath '$ORIGIN/../lib' "$b"; done

# ---- Scripts, googletest's sources (check.sh --build), a small model and its CPU prune's hash
cp "$repo/benchmarks/gpu/check.sh" "$repo/benchmarks/gpu/check_bundle_libs.sh" "$repo/benchmarks/gpu/backend_crossover.sh" \
  "$repo/benchmarks/gpu/README.md" "$out/"
cp "$repo/benchmarks/make_model.py" "$out/"
if [[ -d /usr/src/googletest/googletest ]]; then cp -r /usr/src/googletest/googletest "$out/src/googletest"; fi
# The real fixtures, for check.sh's e2e step (the bundle is never committed: only two of them
# may be copied into the project)
fixtures=${H5PRUNE_FIXTURES:-$repo/../shared/fixtures/keras}
if [[ -d $fixtures ]]; then mkdir -p "$out/fixtures" && cp "$fixtures"/*.h5 "$fixtures"/*.hdf5 "$out/fixtures/"; fi
model=$out/data/model_small.h5
/usr/bin/python3 "$repo/benchmarks/make_model.py" "$model" --params 1e6 --dtype float32 --seed 0 --quiet
"$out/bin/h5prune" prune "$model" -o "$out/data/pruned.h5" --backend cpu --sparsity 0.9 --scope global --quiet >/dev/null
sha256sum "$out/data/pruned.h5" | cut -c1-64 >"$out/data/model_small.pruned.sha256"
rm -f "$out/data/pruned.h5"

glibc_needed=$(for f in "$out"/bin/* "$out"/lib/*; do objdump -T "$f" 2>/dev/null; done |
  grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1)
{
  echo "git: $(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet 2>/dev/null || echo ' (with local changes)')"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME"), $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || echo 'nvcc ?')"
  echo "cuda_architectures: $(grep -o 'sm_[0-9]*[a-z]*' "$from_build/CMakeFiles/h5prune_cuda.dir/flags.make" | sort -u | tr '\n' ' ')"
  echo "glibc_needed: $glibc_needed"
} >"$out/BUILD_INFO"

"$out/check_bundle_libs.sh" "$out"
mib=$(du -sm "$out" | cut -f1)
if ((mib >= limit_mib)); then
  echo "make_bundle.sh: the bundle is $mib MiB, over the $limit_mib MiB the device tool carries" >&2
  exit 1
fi
say "$out: $mib MiB, $(ls "$out/lib" | wc -l) libraries, glibc >= $glibc_needed; $(grep cuda_architectures "$out/BUILD_INFO")"
