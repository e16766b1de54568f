#!/usr/bin/env bash
# Prepares, on a machine with network, what tools/gpu-check.sh needs on the lent GPU
# machine, which has CMake, ninja and nvcc but no network and none of Lumen's Debian
# libraries: the .deb files of the build dependencies (unpacked there into a prefix,
# never installed), and stories15M as an f16 GGUF (the fp32 file with the repository
# would pass the 64 MiB a device call carries). Everything lands in .gpu-carry/,
# which git ignores; name it in the device call's `carry`.
#   bash tools/gpu-carry.sh [BUILD_DIR]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${1:-$repo/build}"
out="$repo/.gpu-carry"
mkdir -p "$out/debs"
packages=(libsentencepiece-dev libsentencepiece0 libicu-dev libicu72 libgtest-dev googletest nlohmann-json3-dev)
(cd "$out/debs" && apt-get download "${packages[@]}" >/dev/null)
stories="$repo/../shared/testdata/stories15M"
if [ -f "$stories/stories15M.bin" ]; then
  "$build_dir/app/lumen-cli" quantize --input "$stories/stories15M.bin" --tokenizer "$stories/tokenizer.bin" \
    --output "$out/stories15M-f16.gguf" --type f16 >/dev/null
fi
du -sh "$out"
