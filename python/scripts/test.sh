#!/usr/bin/env bash
# The Python SDK's tests (run by `npm test` as `npm run test:python`):
# builds the extension into python/.venv (dev-env.sh), runs pytest, and
# mypy --strict on the package and the typed examples.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/dev-env.sh
.venv/bin/python -m pytest -q
.venv/bin/python -m mypy --strict execlave ../examples/python
