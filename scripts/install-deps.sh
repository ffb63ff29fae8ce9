#!/usr/bin/env bash
# Installs every Debian package h5prune needs to build, test and (with --bench) benchmark.
# Idempotent and non-interactive; run as root (CI does) or through sudo.
set -euo pipefail

want_bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) want_bench=1 ;;
    -h|--help) echo "usage: scripts/install-deps.sh [--bench]   (--bench adds python3-torch and hyperfine)"; exit 0 ;;
    *) echo "install-deps.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

# Build: compiler, CMake, HDF5 C library, Boost.Program_options, GoogleTest, OpenSSL, JSON, OpenMP,
# RE2 (tensor selection regexes); clang for the libFuzzer build (tests/fuzz/README.md);
# help2man (the manual page from --help), dpkg-dev and fakeroot (cpack's .deb: dpkg-shlibdeps).
build_pkgs=(build-essential cmake git pkg-config libhdf5-dev hdf5-tools
            libboost-program-options-dev libboost-dev libgtest-dev libssl-dev nlohmann-json3-dev libomp-dev libre2-dev
            clang help2man dpkg-dev fakeroot)
# The GPU bundle (benchmarks/gpu/make_bundle.sh): patchelf sets its $ORIGIN rpaths; debootstrap
# makes the bare chroot of its opt-in self-containment check (chroot_check.sh) and the package
# test's fresh Debian chroot (scripts/package-test.sh).
build_pkgs+=(patchelf debootstrap)
# Tests: independent reference (h5py/numpy/scipy), promtool, a Prometheus server and node_exporter,
# a local Slurm.
test_pkgs=(python3 python3-pytest python3-h5py python3-numpy python3-scipy
           prometheus prometheus-node-exporter python3-prometheus-client slurm-wlm munge curl procps
           chromium python3-pil)
# Benchmarks only: PyTorch's pruning as a baseline, hyperfine for whole-command timing.
bench_pkgs=(python3-torch hyperfine time)

pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}")
if [[ $want_bench == 1 ]]; then pkgs+=("${bench_pkgs[@]}"); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
