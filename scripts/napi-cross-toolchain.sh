#!/usr/bin/env bash
# Pre-seed the gcc cross toolchain that `napi build --use-napi-cross` uses
# (~/.napi-rs/cross-toolchain/<version>/<triple>), from the npm registry.
#
#   scripts/napi-cross-toolchain.sh aarch64-unknown-linux-gnu [x86_64-unknown-linux-gnu ...]
#
# Why: @napi-rs/cross-toolchain <version> runs `npm pack
# @napi-rs/cross-toolchain-<host>-target-<arch>@<version>`, but the target
# packages are not published for every version (1.0.5 has none; the newest is
# 1.0.3), and its unpacking needs @napi-rs/lzma's optional native part. This
# script takes the newest published target package not newer than the CLI's
# version and unpacks it with the system's tar and xz; napi then finds the
# directory ready ("exists, skip extracting"). Used by scripts/cross-build.sh
# and .github/workflows/release.yml.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

version=$(node -p "require('./node_modules/@napi-rs/cross-toolchain/package.json').version")
case "$(uname -m)" in
  x86_64) host=x64 ;;
  aarch64|arm64) host=arm64 ;;
  *) echo "unsupported host $(uname -m)" >&2; exit 1 ;;
esac

for triple in "$@"; do
  case "$triple" in
    x86_64-unknown-linux-gnu) arch=x86_64 ;;
    aarch64-unknown-linux-gnu) arch=aarch64 ;;
    armv7-unknown-linux-gnueabihf) arch=armv7 ;;
    *) echo "no napi cross toolchain for $triple" >&2; exit 1 ;;
  esac
  dest="$HOME/.napi-rs/cross-toolchain/$version/$triple"
  if [ -f "$dest/package.json" ]; then
    echo "napi cross toolchain for $triple: already in $dest"
    continue
  fi
  pkg="@napi-rs/cross-toolchain-$host-target-$arch"
  # Newest published version <= the CLI's toolchain version.
  pick=$(npm view "$pkg@<=$version" version --json 2>/dev/null | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const list = [].concat(JSON.parse(s || "[]"));
      const key = (v) => v.split(".").map(Number);
      list.sort((a, b) => { const [x, y] = [key(a), key(b)]; return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]; });
      console.log(list.pop() || "");
    });')
  if [ -z "$pick" ]; then echo "no version of $pkg <= $version on the registry" >&2; exit 1; fi
  [ "$pick" = "$version" ] || echo "note: $pkg@$version is not published; using $pick" >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$pkg@$pick" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$dest"
  tar xJf "$tmp/package/$triple.tar.xz" -C "$dest"
  rm -rf "$tmp"
  test -x "$dest/bin/$triple-gcc" || { echo "unpacked toolchain has no bin/$triple-gcc" >&2; exit 1; }
  echo "napi cross toolchain for $triple: $pkg@$pick unpacked into $dest"
done
