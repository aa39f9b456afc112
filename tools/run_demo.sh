#!/usr/bin/env bash
# The main job: set up .venv if missing, train the demo model on the COCO
# images shipped in data/coco_tiny, evaluate COCO keypoint AP/AR with mmpose's
# CocoMetric, and draw the predicted skeletons on a validation image.
#   bash tools/run_demo.sh [CONFIG]     (default: the tiny top-down model)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh
PY="$ROOT/.venv/bin/python"
export PYTHONWARNINGS="ignore::UserWarning:pkg_resources,${PYTHONWARNINGS:-}"

CONFIG="${1:-configs/td-hm_res18_1xb12-300e_coco-tiny-128x96.py}"
NAME="$(basename "$CONFIG" .py)"
WORK="${WORK_DIR:-work_dirs/demo/$NAME}"
IMAGE=data/coco_tiny/000000196141.jpg

"$PY" tools/train.py "$CONFIG" --work-dir "$WORK"
CKPT="$(cat "$WORK/last_checkpoint")"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK/test" \
  --out "$WORK/metrics.json"
"$PY" tools/visualize.py "$CONFIG" "$CKPT" "$IMAGE" --out "$WORK/prediction.png"

echo
echo "== demo finished ($NAME) =="
echo "checkpoint : $CKPT"
echo "metrics    : $WORK/metrics.json"
"$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print('             ' + ', '.join(f'{k.split(\"/\")[-1]}={v:.3f}' for k, v in m.items()))" "$WORK/metrics.json"
echo "picture    : $WORK/prediction.png"
