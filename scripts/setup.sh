#!/usr/bin/env bash
# Create .venv with everything filo needs (CPU is enough) and install filo editable.
# Usage: scripts/setup.sh   (idempotent; re-running only installs what changed)
# Every package is installed at the exact version in requirements/constraints.txt, so a fresh clone
# gets the libraries that made the committed dvc.lock (their versions change artifact bytes).
# To change a version: see scripts/update_constraints.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
CONSTRAINTS=requirements/constraints.txt
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet -c "$CONSTRAINTS" --upgrade pip setuptools wheel
# torch first, pinned: groundingdino-py's setup.py imports torch at build time, so filo is
# installed without build isolation against this torch (otherwise pip would fetch another).
python -m pip install --quiet -c "$CONSTRAINTS" torch==2.14.1 torchvision==0.29.1
python -m pip install --quiet -c "$CONSTRAINTS" --no-build-isolation -e '.[dev]'
echo "filo installed in $(pwd)/.venv — activate with: . .venv/bin/activate"
