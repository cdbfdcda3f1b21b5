#!/usr/bin/env bash
# The benchmark from one command on a fresh clone: sets up .venv like run_tests.sh (created if missing,
# pinned requirements installed), then runs the harness; CleanVision gets its own venv under bench/work/.
#   bench/run.sh                      # 150 + 300 photos of 4032x3024, results in bench/results/latest.json
#   bench/run.sh --photos 40          # a quick look
#   bench/run.sh --scale              # also 2,000 and 10,000 small files (memory stays flat?)
# All arguments go to `python -m bench.run_bench` (see --help).
set -euo pipefail
source "$(dirname "$0")/../scripts/setup_env.sh"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$PY" -m bench.run_bench "$@"
