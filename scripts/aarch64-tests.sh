#!/usr/bin/env bash
# urisc's CPU kernels on aarch64 (issue 17): cross-compiles urisc-cpu's and urisc-nn's kernel tests for
# aarch64-unknown-linux-gnu and runs them under qemu-user. Installs what it needs: the Rust target
# (rustup) and the Debian packages qemu-user, gcc-aarch64-linux-gnu and libc6-dev-arm64-cross
# (apt-get, as root or with sudo). Not part of .ci/run (the cross build takes minutes).
#   scripts/aarch64-tests.sh              # from the repository root
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-gnu
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
need=()
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y -q "${need[@]}"
fi
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
# The kernels' own tests: every path this target has (on aarch64: neon and portable) against the
# portable direct convolution, batch norm against its formulas, the allocator. Then urisc-nn's
# comparisons with burn: every layer's forward pass and gradients and whole networks on the default
# path (neon), and the CPU engine on every path (conformance). About 5 minutes on 2 cores.
cargo test --locked --release -p urisc-cpu --target "$TARGET" "$@"
cargo test --locked --release -p urisc-nn --target "$TARGET" --test fast --test conformance "$@"
