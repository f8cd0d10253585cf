#!/usr/bin/env bash
# The Python suite on every mcp version we promise (the floor declared in
# pyproject.toml's `mcp` extra, the newest 1.x, the newest 2.x), then the
# wheel smoke test. Each version gets its own virtual environment under
# python/.matrix/ (git-ignored); the extension is built once, as a wheel.
#   bash python/scripts/mcp-matrix.sh [VERSION ...]
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
  floor=$(sed -n 's/^mcp = \["mcp>=\([0-9.]*\)"\]$/\1/p' pyproject.toml)
  versions=("$floor" 1.30.0 2.3.0)
fi
py=${PYTHON:-python3}
wheels=.matrix/wheels
rm -rf "$wheels"
mkdir -p "$wheels"
# The venv of test.sh has maturin.
bash scripts/dev-env.sh
.venv/bin/maturin build --quiet --out "$wheels"
wheel=$(ls "$wheels"/execlave_sdk-*.whl)
failed=()
for v in "${versions[@]}"; do
  venv=.matrix/mcp-$v
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "mcp==$v" pytest==9.2.0 pytest-asyncio==1.5.0
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  echo "== mcp $v =="
  # From tests/ so that the installed wheel, not the source tree, is imported.
  if ! (cd tests && "../$venv/bin/python" -m pytest -q -c ../pyproject.toml --rootdir .. -p no:cacheprovider .); then
    failed+=("$v")
  fi
done
bash scripts/wheel-smoke.sh
if [ ${#failed[@]} -ne 0 ]; then
  echo "failed on mcp ${failed[*]}" >&2
  exit 1
fi
