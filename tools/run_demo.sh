#!/usr/bin/env bash
# The main job: set up .venv if missing, then compare the approaches on the
# COCO images shipped in data/coco_tiny with tools/compare.py: train each
# tiny config of the `all-tiny` suite (plain / DARK / SWAHR / SWAHR+DARK
# top-down heatmaps, YOLO-Pose, KAPAO, mmpose's YOLOX-Pose) with its own
# 300-iteration schedule, evaluate it with mmpose's CocoMetric, time it,
# count its parameters and FLOPs, and draw its skeletons on one image.
#   bash tools/run_demo.sh                      (about 18 min on 2 CPU cores)
#   bash tools/run_demo.sh --suite heatmap-tiny --max-iters 40   (3 min)
#   bash tools/run_demo.sh configs/A.py configs/B.py
# Any arguments replace `--suite all-tiny` and go to tools/compare.py.
# Exits non-zero when any config failed (its error is in the table).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh
PY="$ROOT/.venv/bin/python"
export PYTHONWARNINGS="ignore::UserWarning:pkg_resources,${PYTHONWARNINGS:-}"

WORK="${WORK_DIR:-work_dirs/demo}"
IMAGE=data/coco_tiny/000000196141.jpg
if [ "$#" -eq 0 ]; then
  set -- --suite all-tiny
fi

# compare.py exits 1 when a config failed, after writing the others'
# results: show where they are, then fail loudly with that status
status=0
"$PY" tools/compare.py "$@" --work-dir "$WORK" --draw "$IMAGE" || status=$?

echo
if [ "$status" -ne 0 ]; then
  echo "== demo FAILED (tools/compare.py exit $status): see the error rows =="
else
  echo "== demo finished =="
fi
echo "table : $WORK/results.md (and results.json, results.csv)"
echo "plot  : $WORK/ap_vs_latency.png"
echo "logs, checkpoints and pictures: $WORK/<config>/"
exit "$status"
