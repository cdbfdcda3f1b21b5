# Shared set-up for run_local.sh and run_tests.sh; source it, don't run it.
#
# Creates the virtualenv if missing and installs the pinned dependencies (requirements-dev.txt, which
# includes requirements.txt). pip runs only when the requirements changed: a stamp file inside the venv
# holds the hash of both files and the Python version, so a rerun costs a fraction of a second.
#
# Environment: VENV (default: .venv in the repo root), PYTHON (default: python3.11, else python3).
# After sourcing: REPO_ROOT, VENV and PY (the venv's python) are set and the cwd is the repo root.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
VENV="${VENV:-$REPO_ROOT/.venv}"

if [ -z "${PYTHON:-}" ]; then
    if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating virtualenv $VENV with $($PYTHON --version 2>&1)"
    if ! "$PYTHON" -m venv "$VENV"; then
        rm -rf "$VENV"
        echo "setup: '$PYTHON -m venv' failed; on Debian/Ubuntu install python3.11-venv, or set PYTHON=..." >&2
        return 1 2>/dev/null || exit 1
    fi
fi
PY="$VENV/bin/python"

_py_version="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$_py_version" != "3.11" ]; then
    echo "setup: warning: $VENV runs Python $_py_version; the pins are tested on 3.11" >&2
fi

_stamp="$VENV/.requirements.sha256"
_wanted="$("$PY" - <<'PYHASH'
import hashlib, sys
digest = hashlib.sha256(sys.version.encode())
for name in ("requirements.txt", "requirements-dev.txt"):
    with open(name, "rb") as f:
        digest.update(f.read())
print(digest.hexdigest())
PYHASH
)"
if [ "$(cat "$_stamp" 2>/dev/null)" != "$_wanted" ]; then
    echo "setup: installing requirements-dev.txt into $VENV (pip runs again only when requirements change)"
    _pip_flags=(--disable-pip-version-check)
    if [ -n "${CI:-}" ]; then _pip_flags+=(--progress-bar off); fi
    "$PY" -m pip install "${_pip_flags[@]}" -r requirements-dev.txt
    echo "$_wanted" > "$_stamp"
fi
unset _py_version _stamp _wanted _pip_flags
