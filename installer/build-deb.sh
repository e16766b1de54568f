#!/usr/bin/env bash
# Builds Lumen's Debian package and prints its path on stdout (the build log goes to stderr):
#   bash installer/build-deb.sh          build-deb/package/lumen_<version>_amd64.deb, without CUDA:
#                                        it depends on Debian 12 packages only
#   bash installer/build-deb.sh --cuda   build-deb-cuda/package/lumen-cuda_<version>_amd64.deb, with the
#                                        CUDA backend: it also needs cuBLAS of the CUDA toolkit it was built with
# Install it with `sudo apt-get install ./lumen_<version>_amd64.deb`. The build is a Release build
# of lumen and lumen-cli alone (no tests) in its own folder, so it shares nothing with build/.
# installer/packaging.cmake says what the package holds.
set -euo pipefail

variant="${1:-}"
case "$variant" in
  "") cuda=OFF; name=lumen ;;
  --cuda) cuda=ON; name=lumen-cuda ;;
  *) echo "usage: bash installer/build-deb.sh [--cuda]" >&2; exit 2 ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$repo/build-deb"
[ "$cuda" = ON ] && build_dir="$repo/build-deb-cuda"
jobs="${LUMEN_JOBS:-$(nproc)}"

bash "$repo/installer/setup.sh" deps >&2
cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DLUMEN_BUILD_TESTS=OFF -DLUMEN_GUI=ON "-DLUMEN_CUDA=$cuda" >&2
cmake --build "$build_dir" -j "$jobs" >&2

# A fresh package folder, so the path printed is the package just made.
rm -rf "$build_dir/package"
(cd "$build_dir" && cpack -G DEB -B "$build_dir/package" >&2)
deb="$(ls "$build_dir/package/${name}"_*.deb)"
echo "lumen: built $deb" >&2
echo "$deb"
