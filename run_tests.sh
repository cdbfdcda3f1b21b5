#!/usr/bin/env bash
# The whole check: set up .venv (created if missing, pinned requirements installed), lint, then every test.
#   ./run_tests.sh                 # all of tests/
#   ./run_tests.sh -k gcs -x       # extra arguments go to pytest
# Exits non-zero if lint fails, any test fails, or pytest collected no tests at all.
set -euo pipefail
source "$(dirname "$0")/scripts/setup_env.sh"
source "$REPO_ROOT/scripts/ensure_chromium.sh"

echo "== ruff check"
"$PY" -m ruff check .

echo "== pytest"
status=0
"$PY" -m pytest tests/ "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "run_tests: pytest collected no tests; that is a failure, not a pass" >&2
    exit 1
fi
exit "$status"
