#!/usr/bin/env bash
# Create (or reuse) a virtual environment at the repository root with one of
# the exact OpenMMLab stacks posekit_plugins is tested with, then install this
# package into it.
#
#   bash tools/setup_env.sh                  # main stack   -> .venv
#   bash tools/setup_env.sh --stack legacy   # legacy stack -> .venv-legacy
#
# Stacks (the table below; why each step is the way it is: README.md,
# "Installation facts"):
#   main    torch 2.13.0 + torchvision 0.28.0, numpy 2.2, onnx 1.23 /
#           onnxruntime 1.32 / onnxscript (torch >= 2.9 exports through it)
#   legacy  torch 2.1.2 + torchvision 0.16.2, numpy 1.26: the stack for which
#           OpenMMLab last shipped mmcv wheels, which most existing mmpose
#           environments still run. Its own venv, .venv-legacy.
# Both use mmcv 2.1.0 built from source against the stack's torch, and the
# same mmengine / mmdet / mmpose.
#
#   * torch + torchvision are installed as a pair from the registry with
#     `--isolated`: some machines carry a local CPU-only `torch 2.13.0+cpu`
#     file on pip's find-links, for which no torchvision build exists
#     (`torchvision::nms does not exist` at import).
#   * mmcv 2.1.0 (with compiled ops; mmpose imports mmcv.ops) has no wheel for
#     these torch versions on the registry, so it is built from source against
#     the torch in the venv, without debug information (-g0: the generated
#     code is the same; the build is faster, the library smaller). The built
#     wheel is cached per torch version in $POSEKIT_WHEEL_CACHE (default
#     ~/.cache/posekit_plugins/wheels/torch-<version>) and reused.
#   * mmengine, mmcv and mmpose are installed with --no-deps: their metadata
#     would pull chumpy (does not build) and another torchvision (which moves
#     torch). Their runtime needs are listed below by name.
#   * xtcocotools is compiled against the stack's numpy (its registry wheel is
#     built for numpy 1 and fails at import under numpy 2); the built wheel
#     is cached next to mmcv's.
# Each step's time is logged, so that a slow set-up shows where it went.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON_BIN="${PYTHON:-python3}"

STACK_NAME=main
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) STACK_NAME="${2:?--stack needs a name: main or legacy}"; shift 2 ;;
    --stack=*) STACK_NAME="${1#--stack=}"; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup_env.sh: unknown argument '$1' (use --stack main|legacy)" >&2; exit 2 ;;
  esac
done

# ---- the stack table ---------------------------------------------------------
MMCV_VERSION=2.1.0
case "$STACK_NAME" in
  main)
    VENV="$ROOT/.venv"
    TORCH_VERSION=2.13.0
    TORCHVISION_VERSION=0.28.0
    NUMPY_VERSION=2.2.6
    OPENCV_SPEC="opencv-python<4.13"
    DEPLOY=("onnx==1.23.2" "onnxruntime==1.32.0" "onnxscript==0.7.2")
    ;;
  legacy)
    VENV="$ROOT/.venv-legacy"
    TORCH_VERSION=2.1.2
    TORCHVISION_VERSION=0.16.2
    NUMPY_VERSION=1.26.4
    OPENCV_SPEC="opencv-python<4.12"   # 4.12 requires numpy >= 2
    # Same onnx / onnxruntime (both support numpy >= 1.23); torch 2.1's
    # exporter is TorchScript-based and does not use onnxscript.
    DEPLOY=("onnx==1.23.2" "onnxruntime==1.32.0")
    ;;
  *) echo "setup_env.sh: unknown stack '$STACK_NAME' (main or legacy)" >&2; exit 2 ;;
esac
# Shared by both stacks.
STACK=(
  "setuptools==80.9.0"      # < 81: mmengine/mim import pkg_resources
  "wheel" "ninja" "cython"
)
OPENMMLAB=("mmengine==0.10.7" "mmdet==3.3.0" "mmpose==1.3.2" "openmim==0.3.9")
# Runtime needs of mmengine / mmcv / mmdet / mmpose (installed --no-deps).
RUNTIME_DEPS=(
  addict pyyaml rich termcolor yapf "$OPENCV_SPEC" packaging pillow
  matplotlib scipy shapely six terminaltables tqdm json_tricks munkres
  pycocotools
  # mim's own needs
  click colorama model-index pandas requests tabulate
  # tests, lint, tools
  pytest ruff
)
STACK_ID="${STACK_NAME}-torch${TORCH_VERSION}-tv${TORCHVISION_VERSION}-np${NUMPY_VERSION}-mmcv${MMCV_VERSION}-v4"
WHEEL_CACHE_ROOT="${POSEKIT_WHEEL_CACHE:-$HOME/.cache/posekit_plugins/wheels}"
WHEEL_CACHE="$WHEEL_CACHE_ROOT/torch-${TORCH_VERSION}"
XTCOCO_CACHE="$WHEEL_CACHE_ROOT/numpy-${NUMPY_VERSION}"
# ------------------------------------------------------------------------------

T0=$SECONDS
T_STEP=$SECONDS
log() { printf '[setup_env %s %4ss] %s\n' "$STACK_NAME" "$((SECONDS - T0))" "$*" >&2; }
# Log how long the step that just ended took.
done_step() { log "  ... $1 took $((SECONDS - T_STEP)) s"; T_STEP=$SECONDS; }

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

# Build a wheel of $2 (a requirement) into the cache dir $1 unless one whose
# name starts with $3 is there already. Remaining args: env for the build.
build_cached_wheel() {
  local cache="$1" req="$2" prefix="$3"; shift 3
  mkdir -p "$cache"
  if ls "$cache/$prefix"-*.whl >/dev/null 2>&1; then
    log "reusing cached $prefix wheel from $cache"
    return
  fi
  local tmp
  tmp="$(mktemp -d)"
  # --no-cache-dir: pip's own wheel cache keys a build by the source archive
  # only, so it would hand back a wheel built against another torch / numpy.
  env "$@" "$VENV/bin/python" -m pip wheel -q --no-deps --no-build-isolation \
    --no-binary :all: --no-cache-dir -w "$tmp" "$req"
  mv "$tmp/$prefix"-*.whl "$cache"/
  rm -rf "$tmp"
}

install_stack() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    "$PYTHON_BIN" -m venv "$VENV"
  fi
  rm -f "$VENV/.posekit-stack"
  pip_ install -q --upgrade pip
  done_step "venv + pip"

  log "installing torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION (registry build)"
  pip_ install -q "${torch_pip_args[@]}" \
    "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
  done_step "torch"
  local constraints="$VENV/posekit-constraints.txt"
  printf 'torch==%s\ntorchvision==%s\nnumpy==%s\n' \
    "$TORCH_VERSION" "$TORCHVISION_VERSION" "$NUMPY_VERSION" >"$constraints"

  log "installing numpy, build tools, the OpenMMLab stack and their runtime needs"
  pip_ install -q -c "$constraints" "numpy==$NUMPY_VERSION" "${STACK[@]}"
  pip_ install -q -c "$constraints" --no-deps "${OPENMMLAB[@]}"
  pip_ install -q -c "$constraints" "${RUNTIME_DEPS[@]}" "${DEPLOY[@]}"
  done_step "OpenMMLab stack, runtime and deploy packages"

  log "xtcocotools against numpy $NUMPY_VERSION"
  build_cached_wheel "$XTCOCO_CACHE" xtcocotools xtcocotools
  pip_ install -q --no-deps "$XTCOCO_CACHE"/xtcocotools-*.whl
  done_step "xtcocotools"

  log "mmcv $MMCV_VERSION with ops against torch $TORCH_VERSION (cached in $WHEEL_CACHE)"
  # The ops compile with Python's own CFLAGS ('-DNDEBUG -g -fwrapv -O3 ...').
  # '-g0' after them drops the debug information only: the same machine code,
  # a faster build and a smaller library (README, "Set-up time"). setuptools
  # replaces (does not extend) Python's CFLAGS with $CFLAGS, so they are
  # passed in full; without them the ops would build unoptimised (-O0).
  local py_cflags
  py_cflags="$("$VENV/bin/python" -c \
    'import sysconfig; print(sysconfig.get_config_var("CFLAGS") or "")')"
  build_cached_wheel "$WHEEL_CACHE" "mmcv==$MMCV_VERSION" "mmcv-$MMCV_VERSION" \
    MAX_JOBS="${MAX_JOBS:-$(nproc)}" MMCV_WITH_OPS=1 FORCE_CUDA="${FORCE_CUDA:-0}" \
    CFLAGS="$py_cflags ${CFLAGS:-} -g0" CXXFLAGS="$py_cflags ${CXXFLAGS:-} -g0"
  # Reinstalled only when missing or not loadable (e.g. built against another
  # torch): a venv whose mmcv ops load keeps them.
  if ! "$VENV/bin/python" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" \
      >/dev/null 2>&1; then
    pip_ install -q --no-deps --force-reinstall "$WHEEL_CACHE"/mmcv-"$MMCV_VERSION"-*.whl
  fi
  done_step "mmcv"

  "$VENV/bin/python" - <<'EOF'
import mmcv.ops, mmdet.models, mmpose.models, torchvision  # noqa: F401
import onnx, onnxruntime, xtcocotools.coco  # noqa: F401
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
  -not -path 'posekit_plugins/.mim/*' -not -path '*/.venv*' -print0 2>/dev/null |
  sort -z | xargs -0 sha1sum | sha1sum | cut -c1-40)"
if [ "$(cat "$VENV/.posekit-src" 2>/dev/null)" != "$src_hash" ]; then
  log "installing posekit_plugins from $ROOT"
  (cd "$ROOT" && pip_ install -q --no-deps --no-build-isolation --force-reinstall .)
  rm -rf "$ROOT/build" "$ROOT"/*.egg-info
  echo "$src_hash" >"$VENV/.posekit-src"
fi
log "done in $((SECONDS - T0)) s"
