#!/usr/bin/env bash
# Create (or reuse) the virtual environment `.venv` at the repository root with
# the exact OpenMMLab stack posekit_plugins is tested with, then install this
# package into it.
#
# Why each step is the way it is: see README.md, "Installation facts".
#   * torch 2.13.0 + torchvision 0.28.0 are installed as a pair from the
#     registry with `--isolated`: some machines carry a local CPU-only
#     `torch 2.13.0+cpu` file on pip's find-links, for which no torchvision
#     build exists (`torchvision::nms does not exist` at import).
#   * mmcv 2.1.0 (with compiled ops; mmpose imports mmcv.ops) has no wheel for
#     this torch, so it is built from source against the torch in the venv.
#     The built wheel is cached in $POSEKIT_WHEEL_CACHE (default
#     ~/.cache/posekit_plugins/wheels) and reused by later set-ups.
#   * mmengine, mmcv and mmpose are installed with --no-deps: their metadata
#     would pull chumpy (does not build) and another torchvision (which moves
#     torch). Their runtime needs are listed below by name.
#   * xtcocotools is compiled against the installed numpy 2 (its wheel is
#     built for numpy 1 and fails at import).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3}"

TORCH_VERSION=2.13.0
TORCHVISION_VERSION=0.28.0
MMCV_VERSION=2.1.0
STACK=(
  "numpy==2.2.6"
  "setuptools==80.9.0"      # < 81: mmengine/mim import pkg_resources
  "wheel" "ninja" "cython"
  "mmengine==0.10.7" "mmdet==3.3.0" "mmpose==1.3.2" "openmim==0.3.9"
)
# Runtime needs of mmengine / mmcv / mmdet / mmpose (installed --no-deps).
RUNTIME_DEPS=(
  addict pyyaml rich termcolor yapf "opencv-python<4.13" packaging pillow
  matplotlib scipy shapely six terminaltables tqdm json_tricks munkres
  pycocotools
  # tests, lint, tools
  pytest ruff
)
STACK_ID="torch${TORCH_VERSION}-tv${TORCHVISION_VERSION}-mmcv${MMCV_VERSION}-v3"
WHEEL_CACHE="${POSEKIT_WHEEL_CACHE:-$HOME/.cache/posekit_plugins/wheels}/torch-${TORCH_VERSION}"

log() { printf '[setup_env] %s\n' "$*" >&2; }

pip_() { "$VENV/bin/python" -m pip "$@"; }

# torch comes from the public registry; where pip's configuration points at a
# local torch file, --isolated ignores it (its CA bundle is passed back in).
torch_pip_args=(--isolated)
for cert in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
  if [ -n "$cert" ] && [ -f "$cert" ]; then torch_pip_args+=(--cert "$cert"); break; fi
done
if [ -n "${POSEKIT_TORCH_PIP_ARGS:-}" ]; then
  # e.g. POSEKIT_TORCH_PIP_ARGS="--index-url https://my.mirror/simple"
  read -r -a torch_pip_args <<<"$POSEKIT_TORCH_PIP_ARGS"
fi

stack_ready() {
  [ -x "$VENV/bin/python" ] && [ -f "$VENV/.posekit-stack" ] &&
    [ "$(cat "$VENV/.posekit-stack")" = "$STACK_ID" ]
}

install_stack() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    "$PYTHON_BIN" -m venv "$VENV"
  fi
  rm -f "$VENV/.posekit-stack"
  pip_ install -q --upgrade pip
  log "installing torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION (registry build)"
  pip_ install -q "${torch_pip_args[@]}" \
    "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
  local constraints="$VENV/posekit-constraints.txt"
  printf 'torch==%s\ntorchvision==%s\n' "$TORCH_VERSION" "$TORCHVISION_VERSION" >"$constraints"

  log "installing build tools and the OpenMMLab stack"
  pip_ install -q -c "$constraints" "${STACK[@]:0:5}"
  pip_ install -q -c "$constraints" --no-deps "${STACK[@]:5}"
  pip_ install -q -c "$constraints" "${RUNTIME_DEPS[@]}" \
    click colorama model-index pandas requests tabulate
  log "building xtcocotools against numpy $("$VENV/bin/python" -c 'import numpy; print(numpy.__version__)')"
  pip_ install -q -c "$constraints" --no-binary xtcocotools --no-build-isolation xtcocotools

  mkdir -p "$WHEEL_CACHE"
  if ! ls "$WHEEL_CACHE"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    log "building mmcv $MMCV_VERSION with ops against torch $TORCH_VERSION (about 8 min on 2 cores; cached in $WHEEL_CACHE)"
    local tmp
    tmp="$(mktemp -d)"
    MAX_JOBS="${MAX_JOBS:-$(nproc)}" MMCV_WITH_OPS=1 FORCE_CUDA="${FORCE_CUDA:-0}" \
      pip_ wheel -q --no-deps --no-build-isolation -w "$tmp" "mmcv==$MMCV_VERSION"
    mv "$tmp"/mmcv-*.whl "$WHEEL_CACHE"/
    rm -rf "$tmp"
  else
    log "reusing cached mmcv wheel from $WHEEL_CACHE"
  fi
  pip_ install -q --no-deps --force-reinstall "$WHEEL_CACHE"/mmcv-"$MMCV_VERSION"-*.whl

  "$VENV/bin/python" - <<'EOF'
import mmcv.ops, mmdet.models, mmpose.models, torchvision  # noqa: F401
import torch
from torchvision.ops import nms
nms(torch.rand(3, 4) * 10 + torch.tensor([0, 0, 10, 10.]), torch.rand(3), 0.5)
EOF
  echo "$STACK_ID" >"$VENV/.posekit-stack"
  log "stack ready"
}

if stack_ready; then
  log "reusing $VENV ($STACK_ID)"
else
  install_stack
fi

# Install this package (not editable: mim looks for configs and tools inside
# the installed package directory). Reinstalled only when its sources changed.
src_hash="$(cd "$ROOT" && find setup.py posekit_plugins configs tools -type f \
  \( -name '*.py' -o -name '*.sh' -o -name '*.txt' \) -not -path '*/__pycache__/*' \
  -not -path 'posekit_plugins/.mim/*' -print0 2>/dev/null | sort -z |
  xargs -0 sha1sum | sha1sum | cut -c1-40)"
if [ "$(cat "$VENV/.posekit-src" 2>/dev/null)" != "$src_hash" ]; then
  log "installing posekit_plugins from $ROOT"
  (cd "$ROOT" && pip_ install -q --no-deps --no-build-isolation --force-reinstall .)
  rm -rf "$ROOT/build" "$ROOT"/*.egg-info
  echo "$src_hash" >"$VENV/.posekit-src"
fi
