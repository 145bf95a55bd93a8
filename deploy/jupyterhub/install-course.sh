#!/usr/bin/env bash
# Installs the course once, for every student of a hub: the steps of ./course (a virtual environment,
# torch first and on its own, then latentlab from this clone, editable), with the `hub` extra
# (JupyterHub, the idle culler). Run it as root on the class server, and in the Kubernetes image.
#
#   deploy/jupyterhub/install-course.sh [VENV]        (default VENV: .venv in the clone)
#
# LATENTLAB_TORCH overrides the torch requirement, as for ./course (e.g. "torch==2.13.0+cpu" together
# with PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu for a CPU-only build).
set -euo pipefail
COURSE="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${1:-$COURSE/.venv}"
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "latentlab needs Python 3.10 or newer; $PYTHON is $("$PYTHON" --version 2>&1)" >&2
  exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating the virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "== installing torch"
  "$PY" -m pip install --quiet "${LATENTLAB_TORCH:-torch==2.13.0}"
fi
echo "== installing latentlab and its dependencies (.[hub])"
"$PY" -m pip install --quiet -e "$COURSE[hub]"
if ! "$PY" -c "import jupyterhub" 2>/dev/null; then
  # a checkout whose pyproject.toml has no `hub` extra yet
  "$PY" -m pip install --quiet "jupyterhub>=5.3" "jupyterhub-idle-culler>=1.4"
fi
# Students read the course (notebooks are copied into their homes) but cannot change it.
[ "$(id -u)" = 0 ] && chmod -R a+rX "$COURSE"
if ! command -v configurable-http-proxy >/dev/null; then
  echo "== note: configurable-http-proxy is not installed; the hub needs it (not a student's server):" >&2
  echo "   npm install -g configurable-http-proxy   (Node.js 20 or newer)" >&2
fi
echo "== done: $VENV/bin/jupyterhub -f $COURSE/deploy/jupyterhub/jupyterhub_config.py"
