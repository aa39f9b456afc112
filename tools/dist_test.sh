#!/usr/bin/env bash
# Distributed testing with torchrun: tools/dist_test.sh CONFIG CKPT NPROC [ARGS]
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
PORT=${PORT:-29500}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":${PYTHONPATH:-} \
"$PYTHON" -m torch.distributed.run \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
