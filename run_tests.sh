#!/usr/bin/env bash
# The whole check: set up .venv (created if missing, pinned requirements installed), lint, import contracts,
# then the tests.
#   ./run_tests.sh                 # everything (what CI runs)
#   ./run_tests.sh --fast          # skips tests marked slow (real jobs, browsers, servers): the edit loop
#   ./run_tests.sh -k gcs -x       # other arguments go to pytest
# Exits non-zero if lint or an import contract fails, any test fails, or pytest collected no tests at all.
set -euo pipefail
source "$(dirname "$0")/scripts/setup_env.sh"
source "$REPO_ROOT/scripts/ensure_chromium.sh"
source "$REPO_ROOT/scripts/ensure_exiftool.sh"

pytest_args=()
for arg in "$@"; do
    if [ "$arg" = "--fast" ]; then pytest_args+=(-m "not slow"); else pytest_args+=("$arg"); fi
done

echo "== ruff check"
"$PY" -m ruff check .
"$PY" -m ruff format --check .

echo "== import contracts (pyproject.toml [tool.importlinter])"
"$VENV/bin/lint-imports"

echo "== pytest"
status=0
"$PY" -m pytest tests/ "${pytest_args[@]}" || status=$?
if [ "$status" -eq 5 ]; then
    echo "run_tests: pytest collected no tests; that is a failure, not a pass" >&2
    exit 1
fi
exit "$status"
