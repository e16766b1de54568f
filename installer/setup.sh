#!/usr/bin/env bash
# Lumen set-up for a fresh Debian 12 machine, and the two entry points the
# README documents:
#   bash installer/setup.sh run      install, build (Release), fetch the default model, open the workstation on it
#   bash installer/setup.sh test     install, build, fetch the default model, run the whole test suite (ctest)
#   bash installer/setup.sh desktop  also put lumen.desktop and the icon in ~/.local/share for the desktop's menu
#   bash installer/setup.sh deps     only install the apt packages (installer/build-deb.sh uses it)
# A second run is fast: apt is skipped when everything is installed, the build is
# incremental and the model is cached outside the repository.
set -euo pipefail

mode="${1:-}"
case "$mode" in
  run|test|build|desktop|deps) ;;
  *) echo "usage: bash installer/setup.sh run|test|build|desktop|deps" >&2; exit 2 ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${LUMEN_BUILD_DIR:-$repo/build}"
jobs="${LUMEN_JOBS:-$(nproc)}"

# ------------------------------------------------------------------ apt packages
apt_packages=(
  build-essential cmake ninja-build pkg-config git
  libsentencepiece-dev libicu-dev nlohmann-json3-dev libgtest-dev libcli11-dev
  python3 python3-pip
  # the workstation: Qt 6 Widgets/Sql/Test/PrintSupport, SQLite driver, QCustomPlot, SVG icons, fonts
  qt6-base-dev qt6-qpa-plugins libqt6sql6-sqlite libqcustomplot-dev libqt6svg6 fonts-dejavu-core
  # tests only: SIMDe runs the AVX-512 kernel tables on CPUs without AVX-512
  libsimde-dev
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
[ "$mode" = deps ] && exit 0

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
  run)
    if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}${QT_QPA_PLATFORM:-}" ]; then
      exec "$build_dir/app/lumen" "$model_path"
    fi
    echo "lumen: no display (DISPLAY and WAYLAND_DISPLAY are unset), so the terminal chat opens instead;" >&2
    echo "lumen: on a desktop the same command opens the workstation" >&2
    exec "$build_dir/app/lumen-cli" chat --model "$model_path"
    ;;
  desktop)
    apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
    icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/scalable/apps"
    mkdir -p "$apps" "$icons"
    cp "$repo/resources/lumen.svg" "$icons/lumen.svg"
    sed "s|^Exec=lumen|Exec=$build_dir/app/lumen|" "$repo/resources/lumen.desktop" > "$apps/lumen.desktop"
    echo "lumen: installed $apps/lumen.desktop and $icons/lumen.svg"
    ;;
  test)
    cd "$build_dir"
    LUMEN_MODEL_PATH="$model_path" ctest --output-on-failure -j "$jobs"
    ;;
esac
