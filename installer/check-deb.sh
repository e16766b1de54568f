#!/usr/bin/env bash
# Checks the package that installer/build-deb.sh made, as a user gets it: installs it with
# apt-get, runs the installed binaries from /usr/bin (without a display), and removes it
# again, so the machine is left without it.
#   bash installer/check-deb.sh [PATH/TO/lumen_VERSION_amd64.deb]   (default: build-deb/package/lumen_*.deb)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deb="$(realpath "${1:-$(ls "$repo"/build-deb/package/lumen_*.deb)}")"
package="$(dpkg-deb -f "$deb" Package)"
version="$(dpkg-deb -f "$deb" Version)"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
fail() { echo "lumen: check-deb FAILED: $*" >&2; exit 1; }

# Removing the package at the end must not take away one the user had installed.
if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
  fail "$package is already installed; remove it first (apt-get remove $package)"
fi
model="$(bash "$repo/installer/fetch-model.sh")"
work="$(mktemp -d)"
cleanup() {
  rm -rf "$work"
  echo "lumen: removing $package" >&2
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get remove -y -qq "$package" >&2
}

echo "lumen: installing $deb" >&2
trap cleanup EXIT
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "$deb" >&2

# ------------------------------------------------------------------ installed files
for f in /usr/bin/lumen /usr/bin/lumen-cli /usr/share/applications/lumen.desktop \
         /usr/share/icons/hicolor/scalable/apps/lumen.svg /usr/share/doc/lumen/README.md \
         /usr/share/lumen/vocab/ggml-vocab-llama-spm.gguf; do
  [ -f "$f" ] || fail "$f is not installed"
done
grep -qE '^Exec=lumen( |$)' /usr/share/applications/lumen.desktop || fail "lumen.desktop does not run lumen"
missing_libs="$(ldd /usr/bin/lumen /usr/bin/lumen-cli | grep 'not found' || true)"
[ -z "$missing_libs" ] || fail "libraries the package does not bring: $missing_libs"

# ------------------------------------------------------------------ the installed binaries
unset DISPLAY WAYLAND_DISPLAY QT_QPA_PLATFORM
got="$(/usr/bin/lumen-cli --version)"
[ "$got" = "lumen-cli $version" ] || fail "lumen-cli --version printed '$got', expected 'lumen-cli $version'"
echo "lumen: $got" >&2
text="$(/usr/bin/lumen-cli generate --model "$model" --prompt Hi --max-tokens 4 --temperature 0)"
[ -n "$text" ] || fail "lumen-cli generate printed nothing"
echo "lumen: lumen-cli generate: $text" >&2
# synth reads its preset's vocabulary from /usr/share/lumen/vocab.
/usr/bin/lumen-cli synth --preset stories15m --layers 1 --type q8_0 --output "$work/synth.gguf" >&2
got="$(/usr/bin/lumen --version)"
[[ "$got" == *"$version"* ]] || fail "lumen --version printed '$got', expected the version $version"
echo "lumen: $got" >&2
echo "lumen: $package $version installs and runs"
