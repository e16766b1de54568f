#!/usr/bin/env bash
# Every CUDA check in one command, for the lent GPU machine (no network there):
# builds Lumen with CUDA for the machine's GPU, runs test_backend_ops and the CUDA
# layout tests, the CPU kernel tests (the host may have AVX-512, which the development
# machine lacks: the engine's own AVX-512 tables are then tested there), synthesizes benchmark models with lumen-cli synth, runs the benches
# (bench: tg128 and pp2048; serve-bench: 1 and 64 concurrent sequences) and prints
# one table: op results; tok/s; achieved GB/s and % of the measured copy bandwidth;
# prefill TFLOP/s and % of the measured cuBLAS peak.
#
# Before the device call, on this machine: bash tools/gpu-carry.sh (build deps as
# .deb files and stories15M in f16, into .gpu-carry/). The device call:
#   run(command="bash tools/gpu-check.sh", carry=[".gpu-carry"])
# Phases (default: all): build, test, bench, bench7b (the 7B shape; minutes of synth).
#   bash tools/gpu-check.sh [build] [test] [bench] [bench7b]
# Results go to $OUT (the device tool's folder) or ./gpu-check-out: gpu-check.md and the logs.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
phases="${*:-build test bench bench7b}"
has() { [[ " $phases " == *" $1 "* ]]; }
out="${OUT:-$repo/gpu-check-out}"
mkdir -p "$out"
build="$repo/build-gpu"
models="${LUMEN_GPU_MODELS:-/tmp/lumen-gpu-models}"
mkdir -p "$models"
report="$out/gpu-check.md"
log() { echo "$*" | tee -a "$report"; }
: > "$report"
log "# gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
log ""
log '```'
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv 2>&1 | tee -a "$report"
log '```'

# ------------------------------------------------------------------ dependencies
# The Debian 12 build dependencies, unpacked into a prefix (never installed into /).
deps=/opt/lumen-deps
cmake_deps=()
if ! pkg-config --exists sentencepiece icu-uc 2>/dev/null; then
  if [ ! -f .gpu-carry/deps.tar.xz ] && [ ! -d "$deps/usr" ]; then
    log "no build dependencies here and no .gpu-carry/deps.tar.xz: run tools/gpu-carry.sh first and carry .gpu-carry"
    exit 1
  fi
  mkdir -p "$deps"
  [ -d "$deps/usr" ] || tar -xJf .gpu-carry/deps.tar.xz -C "$deps"
  lib="$deps/usr/lib/x86_64-linux-gnu"
  export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PKG_CONFIG_LIBDIR="$lib/pkgconfig:$deps/usr/share/pkgconfig"
  export PKG_CONFIG_SYSROOT_DIR="$deps"
  export CPLUS_INCLUDE_PATH="$deps/usr/include${CPLUS_INCLUDE_PATH:+:$CPLUS_INCLUDE_PATH}"
  pkgconf="$(command -v pkg-config || true)"
  [ -z "$pkgconf" ] && [ -x "$deps/usr/bin/pkgconf" ] && pkgconf="$deps/usr/bin/pkgconf"
  cmake_deps=(-DCMAKE_PREFIX_PATH="$deps/usr" -DPKG_CONFIG_EXECUTABLE="$pkgconf")
fi

# ------------------------------------------------------------------ build
arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.')"
arch="${arch:-90}"
[ "$arch" = 90 ] && arch=90a  # the Hopper build, as the default architecture list has it
if has build; then
  t0=$(date +%s)
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLUMEN_GUI=OFF -DLUMEN_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="$arch" "${cmake_deps[@]}" > "$out/cmake.log" 2>&1 \
    || { tail -30 "$out/cmake.log"; log "configure FAILED (cmake.log)"; exit 1; }
  cmake --build "$build" -j "$(nproc)" --target lumen-cli test_backend_ops test_cuda_layout test_cuda_attention_math \
    test_cpu_kernels test_cpu_kernels_avx512 \
    > "$out/build.log" 2>&1 || { grep -E "error" -A3 "$out/build.log" | head -60; log "build FAILED (build.log)"; exit 1; }
  log "built for sm_$arch in $(( $(date +%s) - t0 )) s"
fi
cli="$build/app/lumen-cli"

# ------------------------------------------------------------------ op tests
if has test; then
  log ""
  log "## The CPU kernel tests (this host's SIMD levels), test_backend_ops and the CUDA host tests"
  log '```'
  stories=""
  [ -f .gpu-carry/stories15M-f16.gguf ] && stories="$repo/.gpu-carry/stories15M-f16.gguf"
  log "host CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  log "host AVX-512 flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^avx512(f|bw|vl|dq|_vnni)$' | tr '\n' ' ')"
  for t in test_cpu_kernels avx512_via_simde/test_cpu_kernels_avx512 test_cuda_layout test_cuda_attention_math \
    test_backend_ops; do
    LUMEN_STORIES15M="$stories" timeout 900 "$build/tests/$t" --gtest_brief=0 > "$out/${t##*/}.log" 2>&1
    rc=$?
    grep -E "^\[ +(OK|FAILED|SKIPPED) +\]|SKIPPED:" "$out/${t##*/}.log" | tee -a "$report"
    log "$t: exit $rc"
    [ $rc -ne 0 ] && grep -E "Failure|Expected|Which is|error" -A2 "$out/${t##*/}.log" | head -40 | tee -a "$report"
  done
  log '```'
fi

# ------------------------------------------------------------------ benches
bench_model() {  # name preset type
  local path="$models/$1.gguf"
  [ -f "$path" ] || "$cli" synth --preset "$2" --type "$3" --output "$path" > /dev/null 2>&1 \
    || { log "synth $1 FAILED"; return 1; }
  # One run (device time is scarce): the markdown table holds every figure the JSON would.
  "$cli" bench --model "$path" --device cuda -p 2048 -n 128 -r 3 -o md 2>&1 | tee "$out/bench-$1.md" | tee -a "$report"
}
serve_model() {  # name
  local path="$models/$1.gguf"
  for c in 1 64; do
    log "serve-bench $1, $c concurrent (input 128, output 128, $((c * 2)) requests):"
    "$cli" serve-bench --model "$path" --device cuda --requests $((c * 2)) --max-concurrency $c --max-running $c \
      --input-len 128 --output-len 128 --ctx $((c * 2 * 256 + 512)) 2>&1 | grep -iE "throughput|tok/s|ttft|itl" | tee -a "$report"
  done
}
if has bench; then
  log ""
  log "## lumen-cli bench --device cuda (TinyLlama-1.1B shape, random weights)"
  bench_model tinyllama-f16 tinyllama-1.1b f16
  bench_model tinyllama-q4_0 tinyllama-1.1b q4_0
  serve_model tinyllama-q4_0
fi
if has bench7b; then
  log ""
  log "## lumen-cli bench --device cuda (Llama-2-7B shape, random weights)"
  bench_model llama2-7b-q4_0 llama2-7b q4_0
  bench_model llama2-7b-f16 llama2-7b f16
fi
log ""
log "report: $report"
