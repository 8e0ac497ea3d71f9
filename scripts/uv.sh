#!/usr/bin/env bash
# Run uv, installing it first if this machine has none: on PATH, as a module of python3, through
# pip (plain, then --user), and last in a private virtual environment under .state/.
set -euo pipefail
PYTHON=${PYTHON:-python3}
here="$(cd "$(dirname "$0")/.." && pwd)"
private="$here/.state/uv-venv/bin/uv"

if command -v uv >/dev/null 2>&1; then exec uv "$@"; fi
if "$PYTHON" -m uv --version >/dev/null 2>&1; then exec "$PYTHON" -m uv "$@"; fi
if [ -x "$private" ]; then exec "$private" "$@"; fi

echo "uv not found; installing it with pip" >&2
if "$PYTHON" -m pip install --quiet uv >/dev/null 2>&1 \
   || "$PYTHON" -m pip install --quiet --user uv >/dev/null 2>&1; then
  if "$PYTHON" -m uv --version >/dev/null 2>&1; then exec "$PYTHON" -m uv "$@"; fi
fi
# Externally managed Pythons (PEP 668) refuse both: use a private venv.
"$PYTHON" -m venv "$here/.state/uv-venv"
"$here/.state/uv-venv/bin/pip" install --quiet uv
exec "$private" "$@"
