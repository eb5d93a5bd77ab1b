#!/usr/bin/env bash
# urisc's CPU kernels on aarch64 (issue 17): cross-compiles urisc-cpu's and urisc-nn's kernel tests for
# aarch64-unknown-linux-gnu and runs them under qemu-user. Installs what it needs: the Rust target
# (rustup) and the Debian packages qemu-user, gcc-aarch64-linux-gnu and libc6-dev-arm64-cross
# (apt-get, as root or with sudo).
#   scripts/aarch64-tests.sh                   # from the repository root; about 5 minutes on 2 cores
#   scripts/aarch64-tests.sh --kernels-only    # urisc-cpu's tests only (under a minute once installed)
#   scripts/aarch64-tests.sh --if-available    # skip, saying so, where the target or packages cannot be
#                                              # installed (no network, no root): what .ci/run uses
# Further arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-gnu
kernels_only=false
if_available=false
args=()
for arg in "$@"; do
  case "$arg" in
    --kernels-only) kernels_only=true ;;
    --if-available) if_available=true ;;
    *) args+=("$arg") ;;
  esac
done
unavailable() {
  if $if_available; then
    echo "aarch64 tests skipped: $1" >&2
    exit 0
  fi
  echo "aarch64 tests: $1" >&2
  exit 1
}
if ! rustup target list --installed | grep -qx "$TARGET"; then
  rustup target add "$TARGET" || unavailable "could not install the Rust target $TARGET"
fi
need=()
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || unavailable "need root or sudo to install ${need[*]}"
    SUDO=sudo
  fi
  $SUDO apt-get install -y -q "${need[@]}" || unavailable "could not install ${need[*]}"
fi
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
# The kernels' own tests: every path this target has (on aarch64: neon and portable) against the
# portable direct convolution, batch norm against its formulas, the allocator.
cargo test --locked --release -p urisc-cpu --target "$TARGET" ${args[@]+"${args[@]}"}
$kernels_only && exit 0
# urisc-nn's comparisons with burn: every layer's forward pass and gradients and whole networks on
# the default path (neon), and the CPU engine on every path (conformance).
cargo test --locked --release -p urisc-nn --target "$TARGET" --test fast --test conformance ${args[@]+"${args[@]}"}
