#!/usr/bin/env bash
# ctest gpu_check_unusable_gpu_fails: benchmarks/gpu/check.sh run from a bundle must fail
# loudly when nvidia-smi lists a GPU that the CUDA runtime cannot use (a fake nvidia-smi on
# PATH), and pass with only its no-GPU steps when there is no GPU at all.
# usage: test_check_fake_gpu.sh BUNDLE_DIR
set -uo pipefail
bundle=$1
if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  echo "a real GPU is listed here: this test needs a machine without one"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/fake"
cat >"$tmp/fake/nvidia-smi" <<'SMI'
#!/bin/sh
case "$1" in
  -L) echo "GPU 0: NVIDIA H200 (UUID: GPU-00000000-fake)" ;;
  --query-gpu=*) echo "name, driver_version, clocks.current.sm [MHz]"; echo "NVIDIA H200, 580.159.03, 345 MHz" ;;
  *) echo "NVIDIA-SMI 580.159.03 (fake)" ;;
esac
SMI
chmod +x "$tmp/fake/nvidia-smi"

PATH=$tmp/fake:$PATH OUT=$tmp/out1 CHECK_WORK=$tmp/work "$bundle/check.sh" >"$tmp/fake.log" 2>&1
rc=$?
if ((rc != 1)); then echo "FAIL: check.sh exited $rc with a GPU listed but unusable (expected 1)"; cat "$tmp/fake.log"; exit 1; fi
grep -q "nvidia-smi lists 1 GPU(s) but the CUDA runtime sees none" "$tmp/fake.log" ||
  { echo "FAIL: check.sh did not say why"; cat "$tmp/fake.log"; exit 1; }
grep -q "^device .*FAIL" "$tmp/out1/summary.txt" || { echo "FAIL: no device FAIL row in the table"; exit 1; }

OUT=$tmp/out2 CHECK_WORK=$tmp/work "$bundle/check.sh" >"$tmp/plain.log" 2>&1
rc=$?
if ((rc != 0)); then echo "FAIL: check.sh exited $rc on a machine without any GPU (expected 0)"; cat "$tmp/plain.log"; exit 1; fi
grep -q "^device .*SKIP" "$tmp/out2/summary.txt" && grep -q "^cpu_prune_small .*PASS" "$tmp/out2/summary.txt" ||
  { echo "FAIL: expected device SKIP and cpu_prune_small PASS"; cat "$tmp/out2/summary.txt"; exit 1; }
echo "PASS: unusable GPU -> exit 1 with the reason; no GPU -> exit 0 after the no-GPU steps"
