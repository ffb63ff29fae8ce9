#!/usr/bin/env bash
# The installable package, checked as a user gets it: builds a release configuration in
# build-package/ (default options, so CUDA when nvcc is there; no tests, hence none of their
# environment hooks) and its .deb (cpack); checks that every Depends entry is a Debian package
# apt knows; installs the .deb with `apt-get install ./h5prune_*.deb` into a fresh Debian chroot
# (debootstrap --variant=minbase of this machine's release, so nothing from the build machine
# leaks in) and runs `h5prune --version` and one prune there, whose output must equal the test
# build's (build/) byte for byte; then the same from `cmake --install` into a clean prefix, run
# with an empty environment.
# usage: scripts/package-test.sh [--no-chroot] [-- CMAKE_ARGS...]   (root for the chroot)
set -euo pipefail
cd "$(dirname "$0")/.."
use_chroot=1
cmake_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-chroot) use_chroot=0 ;;
    --) shift; cmake_args=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "package-test.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
say() { echo "package-test: $*"; }
fail() { echo "package-test: FAILED: $*" >&2; exit 1; }

work=$(mktemp -d /tmp/h5prune-package-test.XXXXXX)
cleanup() { rm -rf --one-file-system "$work"; }
trap cleanup EXIT

say "release build in build-package/"
cmake -S . -B build-package -DCMAKE_BUILD_TYPE=Release -DH5PRUNE_BUILD_TESTS=OFF "${cmake_args[@]}" \
  > "$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "cmake configure"; }
cmake --build build-package -j"$(nproc)" > "$work/build.log" 2>&1 || { tail -40 "$work/build.log"; fail "build"; }
rm -f build-package/h5prune_*.deb
(cd build-package && cpack -G DEB > "$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls build-package/h5prune_*.deb)
say "built $deb ($(du -h "$deb" | cut -f1))"
depends=$(dpkg-deb -f "$deb" Depends)
say "Depends: $depends"
[[ -n "$depends" ]] || fail "the package declares no dependencies"
for dep in $(echo "$depends" | tr ',' '\n' | sed -e 's/(.*)//' -e 's/|.*//' | tr -d ' '); do
  apt-cache show "$dep" > /dev/null 2>&1 || fail "Depends names '$dep', which is not a Debian package apt knows"
done
contents=$(dpkg-deb -c "$deb")
grep -q ' ./usr/bin/h5prune$' <<< "$contents" || fail "no /usr/bin/h5prune in the package"
grep -q 'usr/share/man/man1/h5prune.1' <<< "$contents" || fail "no manual page in the package"
grep -q 'usr/share/h5prune/monitoring/alerts.yml' <<< "$contents" || fail "no monitoring files in the package"

# The reference: the test build's binary (the one the test suite checked) on the bundled model.
model=examples/keras2c_model.h5
prune_args=(--sparsity 0.5 --scope global --exclude '^/optimizer_weights/' --quiet)
ref_bin=build/tools/h5prune
[[ -x $ref_bin ]] || { ref_bin=build-package/tools/h5prune; say "no test build: the reference is the package build"; }
"$ref_bin" prune "$model" -o "$work/ref.h5" "${prune_args[@]}" > /dev/null
ref=$(sha256sum < "$work/ref.h5")

# 1. A clean prefix (cmake --install), run with an empty environment.
cmake --install build-package --prefix "$work/prefix" > /dev/null
env -i PATH=/usr/bin:/bin "$work/prefix/bin/h5prune" --version
env -i PATH=/usr/bin:/bin "$work/prefix/bin/h5prune" prune "$model" -o "$work/prefix.h5" "${prune_args[@]}" > /dev/null
[[ $(sha256sum < "$work/prefix.h5") == "$ref" ]] || fail "the installed prefix's output differs from the test build's"
[[ -f "$work/prefix/share/man/man1/h5prune.1" && -f "$work/prefix/share/h5prune/monitoring/grafana/h5prune.json" ]] ||
  fail "cmake --install left out the manual page or the monitoring files"
say "clean prefix: --version and one prune ok (sha256 ${ref%% *})"

# 2. apt-get install ./h5prune_*.deb in a fresh Debian chroot.
if [[ $use_chroot == 0 ]]; then say "chroot skipped (--no-chroot)"; exit 0; fi
[[ $(id -u) == 0 ]] || fail "the chroot test needs root (or pass --no-chroot)"
command -v debootstrap > /dev/null || fail "debootstrap is not installed (scripts/install-deps.sh installs it)"
. /etc/os-release
mirror=${H5PRUNE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
root="$work/chroot"
say "debootstrap $VERSION_CODENAME from $mirror (minbase)"
debootstrap --variant=minbase "$VERSION_CODENAME" "$root" "$mirror" > "$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$model" "$root/tmp/"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
in_root apt-get update -qq > "$work/apt.log" 2>&1 || { tail -20 "$work/apt.log"; fail "apt-get update in the chroot"; }
in_root apt-get install -y -qq --no-install-recommends "/tmp/$(basename "$deb")" >> "$work/apt.log" 2>&1 ||
  { tail -20 "$work/apt.log"; fail "apt-get install ./$(basename "$deb") in the chroot"; }
in_root h5prune --version
in_root h5prune prune "/tmp/$(basename "$model")" -o /tmp/out.h5 "${prune_args[@]}" > /dev/null
[[ $(sha256sum < "$root/tmp/out.h5") == "$ref" ]] || fail "the chroot's output differs from the test build's"
in_root man -w h5prune > /dev/null 2>&1 || in_root test -f /usr/share/man/man1/h5prune.1.gz || in_root test -f /usr/share/man/man1/h5prune.1 ||
  fail "no manual page installed in the chroot"
say "fresh $VERSION_CODENAME chroot: apt-get install, --version and one prune ok"
