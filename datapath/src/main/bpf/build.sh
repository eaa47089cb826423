#!/usr/bin/env bash
# Compiles every BPF program in this folder to OUT_DIR/<name>.o (run by Maven in generate-resources).
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
shopt -s nullglob
for c in "$src"/*.c; do
  command -v clang >/dev/null || { echo "clang is needed to compile $c: apt-get install clang llvm libbpf-dev" >&2; exit 1; }
  clang -O2 -g -Wall -Werror -target bpf -I/usr/include/x86_64-linux-gnu -c "$c" -o "$out/$(basename "${c%.c}").o"
done
