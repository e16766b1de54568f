#!/usr/bin/env bash
# Lumen set-up for a fresh Debian 12 machine, and the two entry points the
# README documents:
#   bash installer/setup.sh run    install, build (Release), fetch the default model, start Lumen on it
#   bash installer/setup.sh test   install, build, fetch the default model, run the whole test suite (ctest)
# A second run is fast: apt is skipped when everything is installed, the build is
# incremental and the model is cached outside the repository.
set -euo pipefail

mode="${1:-}"
case "$mode" in
  run|test|build) ;;
  *) echo "usage: bash installer/setup.sh run|test|build" >&2; exit 2 ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${LUMEN_BUILD_DIR:-$repo/build}"
jobs="${LUMEN_JOBS:-$(nproc)}"

# ------------------------------------------------------------------ apt packages
apt_packages=(
  build-essential cmake ninja-build pkg-config git
  libsentencepiece-dev libicu-dev nlohmann-json3-dev libgtest-dev
  python3 python3-pip
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "lumen: installing apt packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ------------------------------------------------------------------ build
cmake_args=(-S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release)
[ -n "${LUMEN_CUDA:-}" ] && cmake_args+=("-DLUMEN_CUDA=$LUMEN_CUDA")
[ "$mode" = run ] && cmake_args+=(-DLUMEN_BUILD_TESTS=OFF)
[ "$mode" = test ] && cmake_args+=(-DLUMEN_BUILD_TESTS=ON)
cmake "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j "$jobs"

# ------------------------------------------------------------------ default model
model_path="$(bash "$repo/installer/fetch-model.sh")"

case "$mode" in
  build) echo "lumen: built in $build_dir; default model at $model_path" ;;
  run) exec "$build_dir/app/lumen-cli" chat --model "$model_path" ;;
  test)
    cd "$build_dir"
    LUMEN_MODEL_PATH="$model_path" ctest --output-on-failure -j "$jobs"
    ;;
esac
