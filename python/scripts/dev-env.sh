#!/usr/bin/env bash
# python/.venv with the pinned development set from PyPI
# (requirements-dev.txt) and the extension built into it by maturin (a
# debug build: fast to compile; the bench and the wheel smoke test build
# release). PYTHON picks the interpreter that makes the venv (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
if ! "$venv/bin/python" scripts/requirements_met.py requirements-dev.txt; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
fi
"$venv/bin/maturin" develop --quiet
