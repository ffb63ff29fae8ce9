#!/usr/bin/env bash
# The CUDA backend's check on a lent GPU machine (H100/H200, no internet), run from the bundle
# that make_bundle.sh builds (or with --build, from the repository on that machine): driver,
# runtime, card and clocks; launcher and parity tests; an end-to-end CPU-vs-CUDA prune with
# equal sha256; the kernel benchmark; compute-sanitizer. Steps are cut by a deadline that
# leaves time for the table (step, status, seconds, key figure), printed last. Logs go to
# ${OUT:-/tmp/h5prune-gpu-check}. See benchmarks/gpu/README.md.
# Exit 0: no step failed (with no GPU at all, only the steps that need none ran).
# Exit 1: a step failed, or nvidia-smi lists a GPU that the CUDA runtime cannot use.
set -uo pipefail
export LC_ALL=C

usage() {
  cat <<'EOF'
usage: check.sh [--bundle DIR] [--build]
  --bundle DIR  the bundle (default: this script's folder when it holds bin/, else <repo>/gpu-bundle)
  --build       build the kernels, tests and benchmark here with this machine's nvcc (when the
                bundle's binaries do not start); needs the repository beside the bundle
environment: OUT (logs), CHECK_WORK (models, outputs), CHECK_DEADLINE (s, default 540),
  CHECK_PYTHON (with h5py), CHECK_PARAMS (model size, default 100e6), CHECK_BENCH_ARGS,
  CHECK_SANITIZER_FILTER (for test_cuda_launchers), CHECK_JOBS, CHECK_SKIP (steps not to run:
  names or patterns, e.g. 'test_* e2e_*'), CHECK_CROSSOVER_PARAMS (more model sizes for the
  crossover step, generated here, e.g. '3e8 1e9')
EOF
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bundle=""
build_here=0
while (($#)); do
  case $1 in
    --bundle) bundle=$(cd "$2" && pwd) || exit 2; shift 2 ;;
    --build) build_here=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "check.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ -z $bundle ]]; then
  if [[ -d $here/bin ]]; then bundle=$here; else bundle=$(cd "$here/../.." && pwd)/gpu-bundle; fi
fi
out=${OUT:-/tmp/h5prune-gpu-check}
work=${CHECK_WORK:-/tmp/h5prune-gpu-work}
deadline=${CHECK_DEADLINE:-540}  # a 600 s run: the rest is for the table and the transfers
params=${CHECK_PARAMS:-100e6}
bench_args=${CHECK_BENCH_ARGS:---log2n 28 --reps 10}
sanitizer_filter=${CHECK_SANITIZER_FILTER:--*Large*}
jobs=${CHECK_JOBS:-16}
skip_steps=${CHECK_SKIP:-}              # step names or patterns, e.g. 'test_* e2e_*'
crossover_params=${CHECK_CROSSOVER_PARAMS:-}  # more model sizes for the crossover step, e.g. '3e8 1e9'
mkdir -p "$out" "$work" || exit 1

# ---- Step bookkeeping -------------------------------------------------------------------------

names=() statuses=() seconds=() keys=()
failed=0
t_start=${EPOCHREALTIME:-$(date +%s.%N)}
now() { printf '%s' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
elapsed_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
remaining() { awk -v a="$t_start" -v b="$(now)" -v d="$deadline" 'BEGIN { printf "%d", d - (b - a) }'; }

record() {  # record NAME STATUS SECONDS KEY
  names+=("$1") statuses+=("$2") seconds+=("$3") keys+=("$4")
  if [[ $2 == FAIL || $2 == TIMEOUT ]]; then failed=1; fi
  printf '== %-26s %-7s %6ss  %s\n' "$1" "$2" "$3" "$4"
}

# run_step NAME LIMIT_S CMD...: output to $out/NAME.log (stdout to $step_stdout when set); the
# limit is cut to what is left before the deadline. Returns 1 (and records SKIP) past it.
step_stdout=""
step_rc=0
step_secs=0
run_step() {
  local name=$1 limit=$2 left t0
  shift 2
  local skip
  for skip in $skip_steps; do
    # shellcheck disable=SC2053 # a pattern on purpose: CHECK_SKIP='e2e_* racecheck-*'
    if [[ $name == $skip ]]; then
      step_rc=0 step_secs=0
      record "$name" SKIP 0 "CHECK_SKIP"
      return 1
    fi
  done
  left=$(remaining)
  if ((left < 10)); then
    step_rc=124 step_secs=0
    record "$name" SKIP 0 "deadline (${deadline}s) reached"
    return 1
  fi
  ((limit > left)) && limit=$left
  echo "== $name: $* (limit ${limit}s)"
  t0=$(now)
  # SIGINT first: pytest then still prints its failures and writes its report
  if [[ -n $step_stdout ]]; then
    timeout -s INT --kill-after=15 "$limit" "$@" >"$step_stdout" 2>"$out/$name.log"
  else
    timeout -s INT --kill-after=15 "$limit" "$@" >"$out/$name.log" 2>&1
  fi
  step_rc=$?
  step_secs=$(elapsed_since "$t0")
  return 0
}

finish_step() {  # finish_step NAME KEY: records the step just run from its exit status
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
    printf '%-26s %-7s %8s  %s\n' step status seconds "key figure"
    local i
    for i in "${!names[@]}"; do
      printf '%-26s %-7s %8s  %s\n' "${names[$i]}" "${statuses[$i]}" "${seconds[$i]}" "${keys[$i]}"
    done
    printf '%-26s %-7s %8s  %s\n' total "$([[ $failed == 0 ]] && echo PASS || echo FAIL)" "$(elapsed_since "$t_start")" \
      "logs: $out"
  } | tee "$out/summary.txt"
}
finish() { print_table; exit "$failed"; }

gtest_key() {  # passed/skipped/failed counts of a GoogleTest log
  awk '/^\[  PASSED  \]/ { p = $4 } /^\[  SKIPPED \] [0-9]+ test/ { s = $4 } /^\[  FAILED  \] [0-9]+ test/ { f = $4 }
       END { printf "%d passed, %d skipped, %d failed", p, s, f }' "$1"
}
info() { awk -F': ' -v k="$1" '$1 == k { print $2; exit }' "$2"; }

# ---- The bundle's binaries start here (or are built here with --build) -------------------------

bin=$bundle/bin
if ((build_here)); then
  repo=${CHECK_REPO:-$(cd "$bundle/.." && pwd)}
  if [[ ! -f $repo/CMakeLists.txt ]]; then
    record build FAIL 0 "no repository at $repo (set CHECK_REPO)"
    finish
  fi
  command -v nvcc >/dev/null || { [[ -x /usr/local/cuda/bin/nvcc ]] && export PATH=/usr/local/cuda/bin:$PATH; }
  gtest_src=""
  [[ -d $bundle/src/googletest ]] && gtest_src=-DH5PRUNE_GTEST_SOURCE=$bundle/src/googletest
  gpu_build=${CHECK_BUILD:-$repo/build-gpu}
  if run_step configure 120 cmake -S "$repo" -B "$gpu_build" -DCMAKE_BUILD_TYPE=Release -DH5PRUNE_KERNELS_ONLY=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 ${gtest_src:+"$gtest_src"}; then
    finish_step configure "kernels only, sm_90, $gpu_build"
  fi
  if ((step_rc == 0)) && run_step build 300 cmake --build "$gpu_build" -j"$jobs" --target gpu_probe bench_cuda_kernels \
    test_backend_parity test_cuda_launchers; then
    finish_step build "-j$jobs"
  fi
  ((step_rc == 0)) || finish
  mkdir -p "$work/bin"
  cp "$gpu_build"/benchmarks/{gpu_probe,bench_cuda_kernels} "$gpu_build"/tests/{test_backend_parity,test_cuda_launchers} "$work/bin/"
  [[ -x $bundle/bin/h5prune ]] && ln -sf "$bundle/bin/h5prune" "$work/bin/h5prune"
  bin=$work/bin
fi

glibc_needed=$(info glibc_needed "$bundle/BUILD_INFO" 2>/dev/null)
glibc_here=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ print $2 }')
if [[ -n $glibc_needed && -n $glibc_here && $(printf '%s\n' "$glibc_needed" "$glibc_here" | sort -V | head -n1) != "$glibc_needed" ]]; then
  if ((build_here)); then
    rm -f "$bin/h5prune"
    record bundle SKIP 0 "glibc $glibc_here is older than the bundle's $glibc_needed: no h5prune, no end-to-end step"
  else
    record bundle FAIL 0 "this machine's glibc $glibc_here is older than the bundle's $glibc_needed: run check.sh --build"
    finish
  fi
elif run_step bundle 30 "$bin/h5prune" --version; then
  finish_step bundle "$(head -n1 "$out/bundle.log"); glibc ${glibc_here:-?} (needs ${glibc_needed:-?})"
  if ((step_rc != 0 && !build_here)); then
    echo "check.sh: the bundle's h5prune does not start here; check.sh --build builds the CUDA parts with this machine's nvcc." >&2
    finish
  fi
fi

# ---- Device: what nvidia-smi lists and what the CUDA runtime sees ------------------------------

smi_gpus=0
if command -v nvidia-smi >/dev/null; then
  nvidia-smi -L >"$out/nvidia-smi-L.log" 2>&1
  smi_gpus=$(grep -c '^GPU [0-9]' "$out/nvidia-smi-L.log")
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw \
    --format=csv >"$out/nvidia-smi.csv" 2>&1
  nvidia-smi >"$out/nvidia-smi.log" 2>&1
fi
run_step device 60 "$bin/gpu_probe" || finish
probe=$out/device.log
runtime_devices=$(info devices "$probe")
runtime_devices=${runtime_devices:-0}
smi_line=$(sed -n 2p "$out/nvidia-smi.csv" 2>/dev/null)
if ((step_rc == 0 && runtime_devices > 0)); then
  record device PASS "$step_secs" "$(info name "$probe"), sm_$(info arch "$probe"), $(info multiprocessors "$probe") SMs, \
$(info memory_gib "$probe") GiB, max SM clock $(info max_sm_clock_mhz "$probe") MHz; driver API $(info driver_api "$probe"), \
runtime $(info runtime "$probe")${smi_line:+; nvidia-smi: $smi_line}; start: context $(info context_ms "$probe") ms, \
400 MiB page-locked: alloc $(info malloc_host_400mib_ms "$probe") ms, first touch $(info first_touch_400mib_ms "$probe") ms, \
free $(info free_host_400mib_ms "$probe") ms; reset $(info reset_ms "$probe") ms"
elif ((smi_gpus > 0)); then
  record device FAIL "$step_secs" "nvidia-smi lists $smi_gpus GPU(s) but the CUDA runtime sees none ($(info reason "$probe")); \
driver API $(info driver_api "$probe"), runtime $(info runtime "$probe")"
  echo "check.sh: FAILED: a GPU is visible but unusable, so nothing could be tested on it." >&2
  finish
else
  record device SKIP "$step_secs" "no GPU here (no nvidia-smi GPU; runtime: $(info reason "$probe"))"
fi
have_gpu=$((runtime_devices > 0))

# ---- Needs no GPU: the carried model pruned on the CPU, bit for bit as where the bundle was made

small=$bundle/data/model_small.h5
if [[ -f $small && -x $bin/h5prune ]]; then
  rm -f "$work/small_cpu.h5"
  if run_step cpu_prune_small 60 "$bin/h5prune" prune "$small" -o "$work/small_cpu.h5" --backend cpu --sparsity 0.9 \
    --scope global --quiet; then
    want=$(cat "$bundle/data/model_small.pruned.sha256" 2>/dev/null)
    got=$(sha256sum "$work/small_cpu.h5" 2>/dev/null | cut -c1-64)
    if ((step_rc == 0)) && [[ -n $got && $got != "$want" ]]; then
      echo "sha256 $got differs from the bundle's $want" >>"$out/cpu_prune_small.log"
      step_rc=1
    fi
    finish_step cpu_prune_small "sha256 ${got:0:16} (bundle: ${want:0:16})"
  fi
fi
((have_gpu)) || finish

# ---- GPU tests: launchers (every tile and block edge), then the backend parity suite

for t in test_cuda_launchers test_backend_parity; do
  if [[ -x $bin/$t ]]; then
    run_step "$t" 180 "$bin/$t" && finish_step "$t" "$(gtest_key "$out/$t.log")"
  else
    record "$t" SKIP 0 "not in the bundle"
  fi
done

# ---- End to end: the same global prune on both backends must give identical files

json_seconds() {  # "backend B: read R, compute C, write W (total T)" from the JSON on stdout
  "$python" - "$1" <<'PY' 2>/dev/null || echo "no JSON summary"
import json, sys
j = json.load(open(sys.argv[1]))
s = j["seconds"]
print(f"{j.get('backend')}: read {s['read']:.2f}, compute {s['compute']:.2f}, write {s['write']:.2f} (total {s['total']:.2f})")
PY
}
python=${CHECK_PYTHON:-}
if [[ -z $python ]]; then
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import h5py, numpy' 2>/dev/null; then python=$p; break; fi
  done
fi
model=""
if [[ -n $python ]]; then
  model=$work/model_float32_${params}_s0.h5
  if [[ -s $model ]]; then
    record make_model PASS 0 "reused $model"
  elif run_step make_model 150 "$python" "$bundle/make_model.py" "$model" --params "$params" --dtype float32 --seed 0 --quiet; then
    finish_step make_model "$params params with $python: $(du -m "$model" 2>/dev/null | cut -f1) MB"
    ((step_rc == 0)) || model=""
  fi
fi
if [[ -z $model && -f $small ]]; then
  model=$small
  record make_model SKIP 0 "no Python with h5py here: the bundle's 1e6-parameter model instead"
fi
if [[ -n $model && -x $bin/h5prune ]]; then
  for backend in cpu cuda; do
    rm -f "$work/out_$backend.h5"
    step_stdout=$out/prune_$backend.json
    if run_step "prune_$backend" 120 "$bin/h5prune" prune "$model" -o "$work/out_$backend.h5" --backend "$backend" \
      --sparsity 0.9 --scope global --json --quiet; then
      finish_step "prune_$backend" "wall $step_secs s; $(json_seconds "$out/prune_$backend.json")"
    fi
    step_stdout=""
  done
  sum_cpu=$(sha256sum "$work/out_cpu.h5" 2>/dev/null | cut -c1-64)
  sum_cuda=$(sha256sum "$work/out_cuda.h5" 2>/dev/null | cut -c1-64)
  if [[ -z $sum_cpu$sum_cuda && $skip_steps == *prune_* ]]; then
    record sha256_equal SKIP 0 "CHECK_SKIP: no outputs to compare"
  elif [[ -n $sum_cpu && $sum_cpu == "$sum_cuda" ]]; then
    record sha256_equal PASS 0 "${sum_cpu:0:16}... (both)"
  else
    record sha256_equal FAIL 0 "cpu ${sum_cpu:0:16} cuda ${sum_cuda:0:16}"
  fi
  crossover_models=("$model")
  [[ -f $small && $model != "$small" ]] && crossover_models=("$small" "$model")
  crossover_limit=90
  for p in $crossover_params; do
    m=$work/model_float32_${p}_s0.h5
    if [[ -s $m ]] || run_step "make_model_$p" 150 "$python" "$bundle/make_model.py" "$m" --params "$p" --dtype float32 \
      --seed 0 --quiet && { finish_step "make_model_$p" "$(du -m "$m" 2>/dev/null | cut -f1) MB"; ((step_rc == 0)); }; then
      crossover_models+=("$m")
      crossover_limit=$((crossover_limit + 60))
    fi
  done
  if run_step crossover "$crossover_limit" "$bundle/backend_crossover.sh" "$bin/h5prune" "$work" "${crossover_models[@]}"; then
    finish_step crossover "$(tr '\n' ';' <"$out/crossover.log")"
  fi
else
  record e2e SKIP 0 "no model or no h5prune"
fi

# ---- Kernel benchmark (checks every kernel against the CPU backend first; exit 1 on a mismatch)

if [[ -x $bin/bench_cuda_kernels ]]; then
  read -r -a bench_argv <<<"$bench_args"
  run_step bench 200 "$bin/bench_cuda_kernels" "${bench_argv[@]}" &&
    finish_step bench "$(awk '/^cudaMemcpy D2D/ && / float32 / { c = $(NF - 1) } /^apply quota 0/ && / float32 / { a = $(NF - 1) " GB/s (" $NF ")" }
    /MISMATCH/ { m++ } END { printf "f32 copy %s GB/s, apply %s, %d mismatch lines", c, a, m }' "$out/bench.log")"
fi

# ---- The e2e tests on this device: the bundle's h5prune against the tests' numpy reference, on
# generated files and the real fixtures (the bundle carries them), with `--backend auto` picking
# CUDA and every tensor sent through the device. test_backend.py and test_pinned_outputs.py run
# with their own settings (CUDA against the CPU byte for byte, on the pinned model too).

e2e_repo=${CHECK_REPO:-$(cd "$bundle/.." && pwd)}
e2e_dir=$e2e_repo/tests/e2e
if [[ ! -f $e2e_dir/conftest.py || ! -x $bin/h5prune ]]; then
  record e2e SKIP 0 "no tests/e2e beside the bundle, or no h5prune"
elif [[ -z $python ]] || ! "$python" -c 'import pytest, scipy' 2>/dev/null; then
  record e2e SKIP 0 "no Python with h5py, numpy, scipy and pytest here"
else
  xdist=()
  "$python" -c 'import xdist' 2>/dev/null && xdist=(-n "$jobs")
  # each test's h5prune on 2 threads: $jobs workers at once would otherwise run $jobs threads each
  e2e_env=(env H5PRUNE_BIN="$bin/h5prune" PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=2)
  [[ -d $bundle/fixtures ]] && e2e_env+=(H5PRUNE_FIXTURES="$bundle/fixtures")
  e2e_files=(test_rules.py test_fuzz.py test_fixtures.py test_sparse.py test_sparse_fixtures.py test_nm.py
    test_nm_axis.py test_structured.py test_honest_counts.py test_selection.py test_group_rules.py
    test_threshold_rel.py test_reproducible.py test_stats.py)
  e2e_key() { grep -E '^=*.* (passed|failed|error|skipped).* in [0-9.]+s' "$1" | tail -n1 | tr -d '='; }
  # The CPU's output pins hold only for the model bytes Debian's h5py writes (the test says so when
  # the input differs); here CUDA is held to this machine's CPU output on the same model instead.
  if run_step e2e_backend 120 "${e2e_env[@]}" "$python" -m pytest -q -p no:cacheprovider -p no:benchmark --tb=short -rfE \
    --durations=10 "${xdist[@]}" --junitxml="$out/e2e_backend.xml" "$e2e_dir/test_backend.py" "$e2e_dir/test_pinned_outputs.py" \
    -k 'not test_output_sha256_pinned'; then
    finish_step e2e_backend "$(e2e_key "$out/e2e_backend.log")"
  fi
  if run_step e2e_rules_on_cuda 300 "${e2e_env[@]}" H5PRUNE_TEST_CUDA_HOST_BELOW=0 "$python" -m pytest -q \
    -p no:cacheprovider -p no:benchmark --tb=short -rfE --durations=10 "${xdist[@]}" --junitxml="$out/e2e_rules_on_cuda.xml" "${e2e_files[@]/#/$e2e_dir/}" \
    -k 'not test_version_names_the_checked_out_revision'; then  # the bundle is built from the commit, not the checkout
    finish_step e2e_rules_on_cuda "$(e2e_key "$out/e2e_rules_on_cuda.log")"
  fi
fi

# ---- compute-sanitizer last (slowest; cut by the deadline)

sanitizer=$(command -v compute-sanitizer || true)
for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
  if [[ -z $sanitizer && -x $c ]]; then sanitizer=$c; fi
done
if [[ -z $sanitizer ]]; then
  record sanitizers SKIP 0 "compute-sanitizer not found"
else
  for tool in memcheck racecheck; do
    for target in "test_cuda_launchers:$sanitizer_filter" "test_backend_parity:CudaSanitizerSmoke.*"; do
      t=${target%%:*}
      name=$tool-$t
      [[ -x $bin/$t ]] || continue
      if run_step "$name" 200 "$sanitizer" --tool "$tool" --error-exitcode 1 "$bin/$t" --gtest_filter="${target#*:}"; then
        finish_step "$name" "$(grep -Eo '(ERROR|RACECHECK) SUMMARY: .*' "$out/$name.log" | tail -n1); $(gtest_key "$out/$name.log")"
      fi
    done
  done
fi

finish
