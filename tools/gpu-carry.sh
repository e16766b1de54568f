#!/usr/bin/env bash
# Prepares, on a machine with network, what tools/gpu-check.sh needs on the lent GPU
# machine, which has CMake, ninja and nvcc but no network and none of Lumen's Debian
# libraries: the build dependencies unpacked from their .deb files into one prefix,
# without the static ICU and sentencepiece libraries and the docs, as deps.tar.xz (about
# 11 MB; unpacked there under /opt, never installed into /), and stories15M as an f16
# GGUF (31 MB; the fp32 file would pass the 64 MiB a device call carries with the
# repository's 22 MB). Everything lands in .gpu-carry/, which git ignores; name it in
# the device call's `carry`.
#   bash tools/gpu-carry.sh [BUILD_DIR]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${1:-$repo/build}"
out="$repo/.gpu-carry"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
packages=(libsentencepiece-dev libsentencepiece0 libicu-dev libicu72 libgtest-dev nlohmann-json3-dev
          pkgconf-bin libpkgconf3 libsimde-dev)
(cd "$work" && apt-get download "${packages[@]}" >/dev/null 2>&1)
mkdir -p "$work/prefix"
for f in "$work"/*.deb; do dpkg -x "$f" "$work/prefix"; done
find "$work/prefix" \( -name 'libicu*.a' -o -name 'libsentencepiece*.a' \) -delete
rm -rf "$work/prefix/usr/share/doc" "$work/prefix/usr/share/man" "$work/prefix/usr/src"
tar -cJf "$out/deps.tar.xz" -C "$work/prefix" .
stories="$repo/../shared/testdata/stories15M"
if [ -f "$stories/stories15M.bin" ]; then
  "$build_dir/app/lumen-cli" quantize --input "$stories/stories15M.bin" --tokenizer "$stories/tokenizer.bin" \
    --output "$out/stories15M-f16.gguf" --type f16 >/dev/null
fi
du -sh "$out"
