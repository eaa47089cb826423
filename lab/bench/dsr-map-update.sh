#!/usr/bin/env bash
# DSR map-programming benchmark (not a test): runs io.lbmode.datapath.bpf.MapUpdateBenchmark as root in a scratch
# network namespace with its own bpffs, then removes both. Needs the lab module built (target/lbmode-lab.jar and
# target/lib, which holds the agent jar with the compiled BPF object).
# BASELINE_CP=DIR (a copy of an earlier build's lab/target: lbmode-lab.jar and lib/) runs that build's benchmark
# first, in the same namespace, for a before/after in one run.
# usage: lab/bench/dsr-map-update.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)   # the lab module
[ "$(id -u)" = 0 ] || { echo "dsr-map-update.sh: run as root (network namespace, bpffs, BPF maps)" >&2; exit 1; }
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
cp="$here/target/lbmode-lab.jar:$here/target/lib/*"
[ -d "$here/target/lib" ] || { echo "dsr-map-update.sh: build first: ./mvnw -B -o package -pl lab -am -DskipTests" >&2; exit 1; }
ns=lbmode-bench-$$
dir=/run/$ns
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
mkdir -p "$dir/bpffs"
# ip netns exec runs in a private mount namespace: the bpffs mounted inside vanishes with the process
bench() {
  ip netns exec "$ns" sh -c "mount -t bpf bpf '$dir/bpffs' && exec '$java' ${BENCH_JAVA_OPTS:-} --enable-native-access=ALL-UNNAMED -cp '$1' \
    io.lbmode.datapath.bpf.MapUpdateBenchmark '$dir/bpffs' lo"
}
if [ -n "${BASELINE_CP:-}" ]; then
  echo "######## baseline: $BASELINE_CP"
  bench "$BASELINE_CP/lbmode-lab.jar:$BASELINE_CP/lib/*"
  echo "######## this build"
fi
bench "$cp"
