#!/usr/bin/env bash
# Proves that the GPU bundle is self-contained: runs everything in it that needs no GPU inside
# a bare Debian chroot (debootstrap --variant=minbase: no -dev package, no Python, no h5py).
# Needs root; the first run also needs Debian's package mirror (debootstrap, ~3 min, ~210 MB,
# kept in --root for later runs). Opt-in in CI (H5PRUNE_CHROOT_CHECK=1, see tests/CMakeLists.txt).
# usage: benchmarks/gpu/chroot_check.sh [--bundle DIR] [--root DIR] [--suite bookworm]
# Exit 0: every step passed; 1: a step failed; 77: cannot run here (not root, no debootstrap).
set -uo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bundle=$repo/gpu-bundle
root=/var/tmp/h5prune-chroot
suite=bookworm
while (($#)); do
  case $1 in
    --bundle) bundle=$(cd "$2" && pwd) || exit 2; shift 2 ;;
    --root) root=$2; shift 2 ;;
    --suite) suite=$2; shift 2 ;;
    -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "chroot_check.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
if (($(id -u) != 0)); then echo "chroot_check.sh: needs root (chroot, mount)" >&2; exit 77; fi
[[ -x $bundle/bin/h5prune ]] || { echo "chroot_check.sh: no bundle at $bundle (benchmarks/gpu/make_bundle.sh)" >&2; exit 1; }

if [[ ! -x $root/bin/bash ]]; then
  command -v debootstrap >/dev/null || { echo "chroot_check.sh: debootstrap is not installed" >&2; exit 77; }
  echo "chroot_check: debootstrap --variant=minbase $suite $root"
  debootstrap --variant=minbase "$suite" "$root" http://deb.debian.org/debian >"$root.debootstrap.log" 2>&1 ||
    { echo "chroot_check.sh: debootstrap failed (log: $root.debootstrap.log)" >&2; exit 1; }
fi

failed=0
step() {  # step NAME EXPECTED_RC CMD... (run inside the chroot with a clean environment)
  local name=$1 want=$2 rc
  shift 2
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C "$@" >"$logs/$name.log" 2>&1
  rc=$?
  if [[ $rc == "$want" ]]; then
    printf 'chroot_check: %-28s PASS (exit %s)\n' "$name" "$rc"
  else
    printf 'chroot_check: %-28s FAIL (exit %s, expected %s)\n' "$name" "$rc" "$want"
    tail -n 20 "$logs/$name.log" | sed 's/^/   | /'
    failed=1
  fi
}
expect_in() {  # expect_in NAME REGEX: the step's log must match REGEX (extended)
  if grep -qE -- "$2" "$logs/$1.log"; then
    printf 'chroot_check: %-28s PASS (says "%s")\n' "$1: message" "$2"
  else
    printf 'chroot_check: %-28s FAIL (no "%s" in its output)\n' "$1: message" "$2"
    failed=1
  fi
}

logs=$(mktemp -d)
cleanup() {
  umount "$root/proc" 2>/dev/null
  rm -rf "$root/opt/gpu-bundle" "$root/opt/fake-gpu" "$root/tmp/check" "$root/tmp/work"
}
trap cleanup EXIT
mount -t proc proc "$root/proc" || { echo "chroot_check.sh: cannot mount /proc in $root" >&2; exit 1; }
rm -rf "$root/opt/gpu-bundle" && cp -a "$bundle" "$root/opt/gpu-bundle"
mkdir -p "$root/opt/fake-gpu"
# nvidia-smi as on a machine whose GPU the runtime cannot use (no driver library in the chroot).
cat >"$root/opt/fake-gpu/nvidia-smi" <<'EOF'
#!/bin/sh
case "$1" in
  -L) echo "GPU 0: NVIDIA H200 (UUID: GPU-00000000-fake)" ;;
  --query-gpu=*) echo "name, driver_version, clocks.current.sm [MHz]"; echo "NVIDIA H200, 580.159.03, 345 MHz" ;;
  *) echo "NVIDIA-SMI 580.159.03 (fake)" ;;
esac
EOF
chmod +x "$root/opt/fake-gpu/nvidia-smi"

echo "chroot_check: $root ($suite minbase), bundle $bundle"
step bare_system 0 /bin/sh -c '! dpkg-query -W -f="\${Package}\n" | grep -- "-dev$" && ! command -v python3 && ! command -v nvcc && ! command -v nvidia-smi'
step libraries_resolve 0 /bin/sh -c 'for f in /opt/gpu-bundle/bin/*; do ldd "$f" || exit 1; done | grep "not found" && exit 1 || exit 0'
step h5prune_version 0 /opt/gpu-bundle/bin/h5prune --version
step gpu_probe_without_gpu 1 /opt/gpu-bundle/bin/gpu_probe
step test_backend_parity 0 /opt/gpu-bundle/bin/test_backend_parity
expect_in test_backend_parity "^\[  PASSED  \]"
expect_in test_backend_parity "^\[       OK \] ParityHarness.CatchesEveryPlantedFault"
step test_cuda_launchers 0 /opt/gpu-bundle/bin/test_cuda_launchers
expect_in test_cuda_launchers "no CUDA device"
step check_without_gpu 0 /usr/bin/env OUT=/tmp/check CHECK_WORK=/tmp/work /opt/gpu-bundle/check.sh
expect_in check_without_gpu "^cpu_prune_small +PASS"
expect_in check_without_gpu "^device +SKIP .*no GPU here"
step check_unusable_gpu 1 /usr/bin/env PATH=/opt/fake-gpu:/usr/bin:/bin OUT=/tmp/check CHECK_WORK=/tmp/work /opt/gpu-bundle/check.sh
expect_in check_unusable_gpu "nvidia-smi lists 1 GPU\(s\) but the CUDA runtime sees none"
rm -rf "$logs"
if ((failed)); then echo "chroot_check: FAIL"; exit 1; fi
echo "chroot_check: PASS: the bundle's non-GPU steps run in a bare $suite chroot"
