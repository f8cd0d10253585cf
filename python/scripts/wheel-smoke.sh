#!/usr/bin/env bash
# The wheel as a user gets it: `maturin build --release`, then the wheel
# installed with the [mcp] extra into a fresh virtual environment, and a
# governed call there (scripts/smoke_call.py against server-everything over
# stdio from the repository's node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.matrix/release
rm -rf "$out" .matrix/smoke
mkdir -p "$out"
bash scripts/dev-env.sh
.venv/bin/maturin build --release --quiet --out "$out"
wheel=$(ls "$out"/execlave_sdk-*.whl)
"${PYTHON:-python3}" -m venv .matrix/smoke
.matrix/smoke/bin/python -m pip install --quiet --disable-pip-version-check "${wheel}[mcp]"
# Run from outside the source tree: only the installed wheel can be imported.
(cd "$out" && ../smoke/bin/python "$PWD/../../scripts/smoke_call.py")
