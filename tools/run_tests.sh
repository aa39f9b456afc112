#!/usr/bin/env bash
# The test command (CI runs exactly this):
#   bash tools/run_tests.sh [--main-only] [PYTEST ARGS]
#
# 1. main stack (.venv, set up if missing): ruff, then the whole test suite;
# 2. legacy stack (.venv-legacy: torch 2.1, numpy 1.26; set up if missing):
#    the unit tests, i.e. all but the `slow` trainings (-m "not slow"; the
#    list is in tests/conftest.py), with the same PYTEST ARGS.
# `--main-only` (or POSEKIT_TEST_STACKS=main) runs step 1 only;
# POSEKIT_TEST_STACKS=legacy runs step 2 only.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

STACKS="${POSEKIT_TEST_STACKS:-main legacy}"
args=()
for a in "$@"; do
  if [ "$a" = "--main-only" ]; then STACKS=main; else args+=("$a"); fi
done

status=0
for stack in $STACKS; do
  case "$stack" in
    main)
      bash tools/setup_env.sh --stack main
      PY="$ROOT/.venv/bin/python"
      echo "== ruff =="
      "$PY" -m ruff check .
      echo "== pytest (main stack) =="
      "$PY" -m pytest "${args[@]}" || status=$?
      ;;
    legacy)
      bash tools/setup_env.sh --stack legacy
      PY="$ROOT/.venv-legacy/bin/python"
      echo "== pytest (legacy stack: $("$PY" -c 'import numpy, torch; print(f"torch {torch.__version__}, numpy {numpy.__version__}")'), -m 'not slow') =="
      "$PY" -m pytest -m "not slow" "${args[@]}" || status=$?
      ;;
    *) echo "run_tests.sh: unknown stack '$stack' in POSEKIT_TEST_STACKS" >&2; exit 2 ;;
  esac
done
exit "$status"
