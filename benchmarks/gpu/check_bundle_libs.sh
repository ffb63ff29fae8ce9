#!/usr/bin/env bash
# Checks that a GPU bundle (make_bundle.sh) is self-contained: every ELF file in bin/ and lib/
# needs only libraries in lib/ or glibc's own, and finds them through its rpath ($ORIGIN/../lib
# for bin/, $ORIGIN for lib/). glibc's libraries are the one exception because they must match
# the target's loader (ld-linux); the target's glibc must be at least BUILD_INFO's glibc_needed.
# libstdc++ and libgcc_s are not excepted: the binaries link them statically, and a library
# that needs them gets this machine's copy, since the target's may be older.
# usage: check_bundle_libs.sh BUNDLE_DIR   (exit 0: self-contained; 1: each problem on stderr)
set -uo pipefail
export LC_ALL=C
dir=${1:?usage: check_bundle_libs.sh BUNDLE_DIR}
glibc_re='^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libresolv\.so\.2|libutil\.so\.1|ld-linux-x86-64\.so\.2)$'
problems=0
problem() { echo "check_bundle_libs: $*" >&2; problems=$((problems + 1)); }

[[ -d $dir/bin && -d $dir/lib ]] || { problem "$dir has no bin/ and lib/"; exit 1; }
files=0
for f in "$dir"/bin/* "$dir"/lib/*; do
  [[ -f $f ]] || continue
  head -c4 "$f" | grep -q $'\x7fELF' || continue
  files=$((files + 1))
  dynamic=$(readelf -d "$f" 2>/dev/null) || { problem "$f: readelf failed"; continue; }
  want='$ORIGIN'
  [[ $f == "$dir"/bin/* ]] && want='$ORIGIN/../lib'
  rpath=$(sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p' <<<"$dynamic")
  if grep -q '(NEEDED)' <<<"$dynamic" && [[ $rpath != "$want" ]]; then
    problem "$f: rpath is '${rpath:-none}', expected '$want'"
  fi
  while read -r lib; do
    [[ $lib =~ $glibc_re ]] && continue
    [[ -f $dir/lib/$lib ]] || problem "$f needs $lib, which is neither in $dir/lib nor part of glibc"
  done < <(sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' <<<"$dynamic")
done
((files > 0)) || problem "no ELF files in $dir/bin or $dir/lib"
if ((problems > 0)); then
  echo "check_bundle_libs: $dir is NOT self-contained ($problems problem(s))" >&2
  exit 1
fi
echo "check_bundle_libs: $dir is self-contained ($files ELF files; glibc from the target)"
