#!/usr/bin/env bash
# The Python SDK's tests (run by `npm test` as `npm run test:python`):
# builds the extension into python/.venv with maturin, runs pytest, and
# mypy --strict on the package and the typed examples.
# PYTHON picks the interpreter that makes the venv (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
# Install (or update) from PyPI when the pinned set is not there yet.
if ! "$venv/bin/python" scripts/requirements_met.py requirements-dev.txt; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
fi
# A debug build: fast to compile; the bench and the wheel smoke test build release.
"$venv/bin/maturin" develop --quiet
"$venv/bin/python" -m pytest -q
"$venv/bin/python" -m mypy --strict execlave ../examples/python
