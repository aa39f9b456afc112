#!/usr/bin/env bash
# The test command: set up .venv if missing, lint, then run the test suite.
#   bash tools/run_tests.sh [PYTEST ARGS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh
PY="$ROOT/.venv/bin/python"
echo "== ruff =="
"$PY" -m ruff check .
echo "== pytest =="
"$PY" -m pytest tests "$@"
