#!/usr/bin/env bash
# One-shot check of the CUDA backend on a lent GPU machine (H100/H200, no internet): build, GPU
# tests, kernel benchmark, end-to-end CPU-vs-CUDA prune, compute-sanitizer. Logs go to
# ${OUT:-/tmp/h5prune-gpu-check}; a table (step, status, seconds, key figure) is printed last.
# See benchmarks/gpu/README.md. Exit 0 when no step failed (or there is no CUDA device), else 1.
set -uo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${OUT:-/tmp/h5prune-gpu-check}
work=${CHECK_WORK:-/tmp/h5prune-gpu-work}          # model and pruned outputs (~1.2 GB)
build=${CHECK_BUILD:-$repo/build-gpu}
jobs=${CHECK_JOBS:-16}
deadline=${CHECK_DEADLINE:-340}                     # seconds; later steps are skipped past it
sanitizer_filter=${CHECK_SANITIZER_FILTER:-CudaSanitizerSmoke.*}
bench_args=${CHECK_BENCH_ARGS:---log2n 28 --reps 10}
params=${CHECK_PARAMS:-100e6}
python=${CHECK_PYTHON:-/usr/bin/python3}
# GPU test binaries (space-separated); default test_backend_parity.
test_targets=${CHECK_TEST_TARGETS:-}

mkdir -p "$out" "$work" || exit 1
cd "$repo" || exit 1

# ---- Step bookkeeping ------------------------------------------------------------------------

names=() statuses=() seconds=() keys=()
failed=0
t_start=${EPOCHREALTIME:-$(date +%s.%N)}

now() { printf '%s' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
elapsed_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
remaining() { awk -v a="$t_start" -v b="$(now)" -v d="$deadline" 'BEGIN { printf "%d", d - (b - a) }'; }

record() {  # record NAME STATUS SECONDS KEY
  names+=("$1") statuses+=("$2") seconds+=("$3") keys+=("$4")
  if [[ $2 == FAIL || $2 == TIMEOUT ]]; then failed=1; fi
  printf '== %-30s %-7s %6ss  %s\n' "$1" "$2" "$3" "$4"
}

# run_step NAME LIMIT_S CMD...: CMD's output goes to $out/NAME.log (stdout to $step_stdout
# instead when that is set); its limit is cut to what is left before the deadline.
step_stdout=""
step_rc=0
step_secs=0
run_step() {
  local name=$1 limit=$2 left t0
  shift 2
  left=$(remaining)
  if ((left < 5)); then
    step_rc=124 step_secs=0
    record "$name" SKIP 0 "deadline (${deadline}s) reached"
    return 1
  fi
  ((limit > left)) && limit=$left
  echo "== $name: $* (limit ${limit}s)"
  t0=$(now)
  if [[ -n $step_stdout ]]; then
    timeout --kill-after=10 "$limit" "$@" >"$step_stdout" 2>"$out/$name.log"
  else
    timeout --kill-after=10 "$limit" "$@" >"$out/$name.log" 2>&1
  fi
  step_rc=$?
  step_secs=$(elapsed_since "$t0")
  return 0
}

# finish_step NAME KEY: records the step just run from its exit status.
finish_step() {
  local status=PASS
  case $step_rc in
    0) status=PASS ;;
    124 | 137) status=TIMEOUT ;;
    *) status=FAIL ;;
  esac
  record "$1" "$status" "$step_secs" "$2"
  if [[ $status != PASS ]]; then tail -n 15 "$out/$1.log" | sed 's/^/   | /'; fi
}

print_table() {
  {
    echo
    printf '%-30s %-7s %8s  %s\n' step status seconds "key figure"
    local i
    for i in "${!names[@]}"; do
      printf '%-30s %-7s %8s  %s\n' "${names[$i]}" "${statuses[$i]}" "${seconds[$i]}" "${keys[$i]}"
    done
    printf '%-30s %-7s %8s  %s\n' total "$([[ $failed == 0 ]] && echo PASS || echo FAIL)" "$(elapsed_since "$t_start")" \
      "logs: $out"
  } | tee "$out/summary.txt"
}

# ---- Dependencies (scripts/install-deps.sh names the Debian packages; nothing is installed here)

if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then export PATH=/usr/local/cuda/bin:$PATH; fi
have_glob() { compgen -G "$1" >/dev/null; }
missing=()
command -v cmake >/dev/null || missing+=("cmake (cmake)")
if command -v cmake >/dev/null; then
  cmake_version=$(cmake --version | awk 'NR == 1 { print $3 }')
  if [[ $(printf '%s\n' 3.25 "$cmake_version" | sort -V | head -n1) != 3.25 ]]; then
    missing+=("cmake >= 3.25 (found $cmake_version)")
  fi
fi
command -v g++ >/dev/null || missing+=("g++ (build-essential)")
command -v nvcc >/dev/null || missing+=("nvcc (CUDA toolkit, e.g. /usr/local/cuda/bin)")
have_glob '/usr/include/hdf5/serial/hdf5_hl.h' || have_glob '/usr/include/hdf5_hl.h' || missing+=("HDF5 C + HL headers (libhdf5-dev)")
have_glob '/usr/include/boost/program_options.hpp' && have_glob '/usr/lib/*/libboost_program_options.so*' ||
  missing+=("Boost.Program_options (libboost-program-options-dev)")
have_glob '/usr/include/gtest/gtest.h' || missing+=("GoogleTest (libgtest-dev)")
have_glob '/usr/include/nlohmann/json.hpp' || missing+=("nlohmann JSON (nlohmann-json3-dev)")
have_glob '/usr/include/openssl/evp.h' || missing+=("OpenSSL headers (libssl-dev)")
if command -v g++ >/dev/null && ! echo 'int main() { return 0; }' | g++ -fopenmp -x c++ - -o /dev/null 2>/dev/null; then
  missing+=("OpenMP for g++ (libgomp / libomp-dev)")
fi
if ((${#missing[@]} > 0)); then
  echo "check.sh: missing build dependencies (this script does not apt-get; see scripts/install-deps.sh):" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
sanitizer=$(command -v compute-sanitizer || true)
for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
  if [[ -z $sanitizer && -x $c ]]; then sanitizer=$c; fi
done

# ---- Device: a tiny runtime probe (the same rule as the code: any error means no device)

cat >"$out/probe.cu" <<'EOF'
#include <cstdio>
#include <cuda_runtime.h>
int main() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    std::printf("no CUDA device (%s)\n", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    return 1;
  }
  cudaDeviceProp p{};
  cudaGetDeviceProperties(&p, 0);
  std::printf("%d x %s, sm_%d%d, %.0f GiB\n", n, p.name, p.major, p.minor, p.totalGlobalMem / 1073741824.0);
  std::printf("arch %d%d\n", p.major, p.minor);
  return 0;
}
EOF
rm -f "$out/probe"
# shellcheck disable=SC2016  # $1 is for the inner bash
run_step device 60 bash -c 'nvcc -o "$1/probe" "$1/probe.cu" && "$1/probe"' probe "$out"
device_line=$(head -n1 "$out/device.log")
if [[ ! -x $out/probe ]]; then
  record device FAIL "$step_secs" "nvcc could not build the probe: ${device_line}"
  print_table
  exit 1
fi
if [[ $step_rc != 0 ]]; then
  record device SKIP "$step_secs" "${device_line:-no CUDA device}"
  echo "check.sh: no CUDA device here; nothing else to check."
  print_table
  exit 0
fi
record device PASS "$step_secs" "$device_line"
arch=${CHECK_CUDA_ARCH:-$(awk '/^arch / { print $2 }' "$out/device.log")}
arch=${arch:-90}
command -v nvidia-smi >/dev/null && nvidia-smi >"$out/nvidia-smi.log" 2>&1

# ---- Build: Release, this device's architecture, only the targets used below

read -r -a tests <<<"${test_targets:-test_backend_parity}"

built=0
if run_step configure 90 cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch"; then
  finish_step configure "sm_$arch, $build"
  if ((step_rc == 0)) && run_step build 240 cmake --build "$build" -j"$jobs" --target h5prune bench_cuda_kernels "${tests[@]}"; then
    finish_step build "$(grep -c 'Building' "$out/build.log") objects, -j$jobs"
    built=$((step_rc == 0))
  fi
fi

bench_bin=$build/benchmarks/bench_cuda_kernels
h5prune_bin=$build/tools/h5prune

gtest_key() {  # passed/skipped/failed counts from a GoogleTest log
  awk '/^\[  PASSED  \]/ { p = $4 } /^\[  SKIPPED \] [0-9]+ test/ { s = $4 } /^\[  FAILED  \] [0-9]+ test/ { f = $4 }
       END { printf "%d passed, %d skipped, %d failed", p, s, f }' "$1"
}

# ---- GPU tests: each whole binary

test_bins=()
for t in "${tests[@]}"; do
  bin=$(find "$build/tests" -name "$t" -type f -perm -u+x 2>/dev/null | head -n1)
  if ((built)) && [[ -n $bin ]]; then
    test_bins+=("$bin")
    run_step "$t" 150 "$bin" && finish_step "$t" "$(gtest_key "$out/$t.log")"
  else
    record "$t" SKIP 0 "not built"
  fi
done

# ---- Kernel benchmark (checks every kernel against the CPU backend, exit 1 on a mismatch)

if ((built)) && [[ -x $bench_bin ]]; then
  read -r -a bench_argv <<<"$bench_args"
  run_step bench 200 "$bench_bin" "${bench_argv[@]}" &&
    finish_step bench "$(awk '/^no CUDA device/ { nodev = $0 } /^cudaMemcpy D2D/ && / float32 / { c = $(NF - 1) } /^apply_threshold quota 0/ && / float32 / { a = $(NF - 1) " GB/s (" $NF ")" }
    /MISMATCH/ { m++ }
    END { if (nodev) print nodev; else printf "f32 copy %s GB/s, apply %s, %d mismatch lines", c, a, m }' "$out/bench.log")"
else
  record bench SKIP 0 "not built"
fi

# ---- End to end: the same global prune on the CPU and CUDA backends must give identical files

json_seconds() {  # "backend B: read R, compute C, write W, publish P (total T)" from the JSON on stdout
  "$python" - "$1" <<'EOF' 2>/dev/null || echo "no JSON summary"
import json, sys
j = json.load(open(sys.argv[1]))
s = j["seconds"]
print(f"{j.get('backend')}: read {s['read']:.2f}, compute {s['compute']:.2f}, write {s['write']:.2f}, "
      f"publish {s['publish']:.2f} (total {s['total']:.2f})")
EOF
}

if ! ((built)) || [[ ! -x $h5prune_bin ]]; then
  record e2e SKIP 0 "h5prune not built"
elif ! "$python" -c 'import h5py, numpy' 2>/dev/null; then
  record e2e SKIP 0 "$python has no h5py/numpy: cannot generate the model"
else
  model=$work/model_float32_${params}_s0.h5
  if [[ -s $model ]]; then
    record make_model PASS 0 "reused $model"
  else
    run_step make_model 150 "$python" benchmarks/make_model.py "$model" --params "$params" --dtype float32 --seed 0 &&
      finish_step make_model "$(du -m "$model" 2>/dev/null | cut -f1) MB"
  fi
  for backend in cpu cuda; do
    rm -f "$work/out_$backend.h5"
    step_stdout=$out/prune_$backend.json
    if run_step "prune_$backend" 90 "$h5prune_bin" prune "$model" -o "$work/out_$backend.h5" --backend "$backend" \
      --sparsity 0.9 --scope global --json; then
      finish_step "prune_$backend" "wall $step_secs s; $(json_seconds "$out/prune_$backend.json")"
    fi
    step_stdout=""
  done
  sum_cpu=$(sha256sum "$work/out_cpu.h5" 2>/dev/null | cut -c1-64)
  sum_cuda=$(sha256sum "$work/out_cuda.h5" 2>/dev/null | cut -c1-64)
  if [[ -n $sum_cpu && $sum_cpu == "$sum_cuda" ]]; then
    record sha256_equal PASS 0 "${sum_cpu:0:16}... (both)"
  else
    record sha256_equal FAIL 0 "cpu ${sum_cpu:0:16} cuda ${sum_cuda:0:16}"
  fi
fi

# ---- compute-sanitizer on the GPU tests (last: slow, and cut by the deadline)

if [[ -z $sanitizer ]]; then
  record memcheck SKIP 0 "compute-sanitizer not found"
  record racecheck SKIP 0 "compute-sanitizer not found"
elif ((${#test_bins[@]} == 0)); then
  record memcheck SKIP 0 "no test binary built"
  record racecheck SKIP 0 "no test binary built"
else
  for tool in memcheck racecheck; do
    for bin in "${test_bins[@]}"; do
      name=$tool-$(basename "$bin")
      if run_step "$name" 300 "$sanitizer" --tool "$tool" --error-exitcode 1 "$bin" --gtest_filter="$sanitizer_filter"; then
        finish_step "$name" "$(grep -Eo '(ERROR|RACECHECK) SUMMARY: .*' "$out/$name.log" | tail -n1); $(gtest_key "$out/$name.log")"
      fi
    done
  done
fi

print_table
exit "$failed"
