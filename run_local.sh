#!/usr/bin/env bash
# Score photos on this machine with the DirectRunner. Sets up .venv first (created if missing).
#   ./run_local.sh                                  # build a demo folder from scikit-image's photos and score it
#   ./run_local.sh 'PHOTOS/**' [OUTPUT_PREFIX] [JOB FLAGS...]
#                                                   # score anything else (quote the pattern: the job expands it)
#   ./run_local.sh --input_manifest LIST.txt --output PREFIX [JOB FLAGS...]
#                                                   # a first argument starting with '-': all arguments go to the job
set -euo pipefail
source "$(dirname "$0")/scripts/setup_env.sh"

if [ $# -eq 0 ]; then
    demo_dir="demo_photos"
    output="out/demo/scores"
    "$PY" -m scripts.demo_photos "$demo_dir"
    # A rerun replaces the previous run's shards itself, once it has committed (pipeline/job/commit.py).
    exec "$PY" -m pipeline.score --input "$demo_dir/*.jpg" --output "$output"
fi

if [[ "$1" == -* ]]; then
    exec "$PY" -m pipeline.score "$@"
fi

input="$1"
shift
output="out/scores"
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then
    output="$1"
    shift
fi
if [ -f "$output" ]; then
    # An unquoted glob expands in the shell and the second photo would become the output prefix.
    echo "run_local: OUTPUT_PREFIX '$output' is an existing file; quote the input pattern: ./run_local.sh 'DIR/**'" >&2
    exit 2
fi
exec "$PY" -m pipeline.score --input "$input" --output "$output" "$@"
