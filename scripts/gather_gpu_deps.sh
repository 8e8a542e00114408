#!/usr/bin/env bash
# Run HERE (Debian with apt; no root needed): downloads the .deb files that the dsv32 build needs
# on the GPU machine, which has nvcc, cmake and ninja but reaches no package registry, into
# .gpu-deps/ at the repository root. scripts/gpu_build.sh unpacks them there (dpkg -x into a
# prefix, never into /). Send them along with the session's `run` tool: carry: [".gpu-deps"].
#
# What is gathered: the packages the top-level CMakeLists.txt finds (HDF5 C, nlohmann-json, GTest,
# Google Benchmark, PCRE2 through pkg-config, SQLite3 for reports/, and pkg-config itself), plus every package apt would
# install with them on an EMPTY system (first alternatives, no recommends), minus:
#   - the C/C++ toolchain and libc, which any machine that runs nvcc already has;
#   - the Fortran and JPEG pieces of HDF5 (we link its C library only). The -dev packages of
#     libssl, libcurl, libaec and zlib stay: FindHDF5 asks h5cc for its link line and looks up
#     -lcrypto -lcurl -lsz -lz, which must resolve inside the prefix.
# Usage: scripts/gather_gpu_deps.sh [dest]     (dest defaults to <repo>/.gpu-deps)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/.gpu-deps}"
wanted=(libhdf5-dev nlohmann-json3-dev libgtest-dev libbenchmark-dev libpcre2-dev libsqlite3-dev pkgconf)
skip_re='^(libc6|libc6-dev|libc-dev-bin|linux-libc-dev|libgcc-s1|libstdc\+\+6|gcc-[0-9]+-base|libcrypt1|libcrypt-dev|libnsl2|libnsl-dev|libtirpc3|libtirpc-dev|libtirpc-common|rpcsvc-proto|libgfortran5|libquadmath0|libhdf5-fortran-[0-9]+|libhdf5-hl-fortran-[0-9]+|libjpeg-dev|libjpeg62-turbo|libjpeg62-turbo-dev)$'

empty="$(mktemp)"
trap 'rm -f "$empty"' EXIT
# Resolve against an empty dpkg status: the full closure, whatever is installed here.
mapfile -t pkgs < <(apt-get -s -o Dir::State::status="$empty" install --no-install-recommends "${wanted[@]}" \
  | awk '/^Inst /{print $2}' | grep -Ev "$skip_re" | sort -u)
if [ "${#pkgs[@]}" -eq 0 ]; then
  echo "gather_gpu_deps: apt resolved nothing (run 'apt-get update' first?)" >&2
  exit 1
fi
mkdir -p "$dest"
rm -f "$dest"/*.deb
(cd "$dest" && apt-get download "${pkgs[@]}")
printf '%s\n' "${pkgs[@]}" > "$dest/PACKAGES.txt"
echo "gather_gpu_deps: ${#pkgs[@]} packages, $(du -sh "$dest" | cut -f1) in $dest"
