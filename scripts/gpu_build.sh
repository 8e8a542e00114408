#!/usr/bin/env bash
# Run THERE (the GPU machine's copy of the repo, through the session's `run` tool with
# carry: [".gpu-deps"]): unpacks every .deb of .gpu-deps into a private prefix (dpkg -x, never
# into /), points CMake, pkg-config, the compiler and the loader at it, then configures with
# -DDSV32_CUDA=ON -DDSV32_NATIVE=OFF and builds.
#
# Usage: scripts/gpu_build.sh [build-dir] [cmake --build args…]
#   build-dir defaults to build-gpu; extra args go to `cmake --build` (e.g. --target test_cuda_ops).
# Environment: DSV32_DEPS (default <repo>/.gpu-deps), DSV32_PREFIX (default /tmp/prefix),
#   DSV32_CONFIGURE_ONLY=1 (stop after configuring: how this script is checked on a machine
#   without a GPU), DSV32_CMAKE_ARGS (extra configure arguments).
# Afterwards `source <build-dir>/gpu-env.sh` sets LD_LIBRARY_PATH for running the binaries.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-build-gpu}"
shift || true
deps="${DSV32_DEPS:-$root/.gpu-deps}"
prefix="${DSV32_PREFIX:-/tmp/prefix}"
[ "$prefix" != "/" ] || { echo "gpu_build: refusing to unpack into /" >&2; exit 2; }

shopt -s nullglob
debs=("$deps"/*.deb)
if [ "${#debs[@]}" -eq 0 ]; then
  echo "gpu_build: no .deb files in $deps (run scripts/gather_gpu_deps.sh where apt works)" >&2
  exit 2
fi
mkdir -p "$prefix"
for d in "${debs[@]}"; do dpkg -x "$d" "$prefix"; done
echo "gpu_build: unpacked ${#debs[@]} packages into $prefix"

multi=x86_64-linux-gnu
lib="$prefix/usr/lib/$multi"
# Debian's .pc files name /usr: PKG_CONFIG_SYSROOT_DIR makes pkg-config prepend the prefix to every
# -I/-L it prints. The .so symlinks in the packages are relative, so they stay inside the prefix.
export PKG_CONFIG_PATH="$lib/pkgconfig:$prefix/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_LIBDIR="$PKG_CONFIG_PATH"
export PKG_CONFIG_SYSROOT_DIR="$prefix"
pc_bin="$(command -v pkg-config || true)"
if [ -z "$pc_bin" ] && [ -x "$prefix/usr/bin/pkgconf" ]; then
  pc_bin="$prefix/usr/bin/pkgconf"
fi
wrapper="$prefix/pkg-config-wrapper"
cat > "$wrapper" <<WRAP
#!/bin/sh
LD_LIBRARY_PATH="$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$pc_bin" "\$@"
WRAP
chmod +x "$wrapper"
export PKG_CONFIG="$wrapper"
export CMAKE_PREFIX_PATH="$prefix/usr:$lib/cmake${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export CPATH="$prefix/usr/include:$prefix/usr/include/hdf5/serial${CPATH:+:$CPATH}"
export LIBRARY_PATH="$lib:$lib/hdf5/serial${LIBRARY_PATH:+:$LIBRARY_PATH}"
# Not exported here: the prefix's libssl/libcurl/… must not shadow the system's for cmake, ninja
# and nvcc. Test discovery is deferred to ctest time (PRE_TEST), so building runs no test binary.
ld_path="$lib:$lib/hdf5/serial${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# HDF5: Debian's serial build lives under hdf5/serial; FindHDF5 is given the paths directly
# (its h5cc wrapper script would name /usr).
hdf5_args=(-DHDF5_INCLUDE_DIRS="$prefix/usr/include/hdf5/serial"
           -DHDF5_C_LIBRARY_hdf5="$lib/hdf5/serial/libhdf5.so"
           -DHDF5_C_COMPILER_EXECUTABLE=HDF5_C_COMPILER_EXECUTABLE-NOTFOUND
           -DHDF5_USE_STATIC_LIBRARIES=OFF)

cd "$root"
# shellcheck disable=SC2086
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDSV32_CUDA=ON -DDSV32_NATIVE=OFF \
  -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST -DPKG_CONFIG_EXECUTABLE="$wrapper" "${hdf5_args[@]}" ${DSV32_CMAKE_ARGS:-}
cat > "$build/gpu-env.sh" <<ENV
# Source before running binaries of $build on this machine (shared libraries from $prefix).
export LD_LIBRARY_PATH="$ld_path"
ENV
if [ "${DSV32_CONFIGURE_ONLY:-0}" = 1 ]; then
  echo "gpu_build: configured $build (DSV32_CONFIGURE_ONLY=1: not building)"
  exit 0
fi
cmake --build "$build" -j"$(nproc)" "$@"
echo "gpu_build: built $build; run tests with: source $build/gpu-env.sh && ctest --test-dir $build -L gpu"
