#!/usr/bin/env bash
# Benchmark (not a test): time from an API write to the kernel for the agent in cluster mode (SNAT) on a real control
# plane (./lbmode kube up, control plane only), for a Service create, an endpoint change (EndpointSlice update) and a
# Service delete, at each of SIZES Services; the first size is the baseline of the ratios (same run, same agent
# build). The kernel side is `nft monitor` in the agent's network namespace.
#   lab/bench/api-to-kernel.sh [SIZES [WRITES]]      (default 10,1000 20)
# Root. Build first: ./mvnw -B -q package -pl lab -am -DskipTests. Settings (environment): BENCH_PREFIX (netns and
# link name, default a2k-), LBMODE_KUBE_ADDRESS / LBMODE_KUBE_STATE (default 198.18.0.7, /tmp/lbmode-kube-a2k),
# BENCH_KEEP_KUBE=1 keeps the control plane.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
cp="$root/lab/target/lbmode-lab.jar:$root/lab/target/lib/*"
ns=${BENCH_PREFIX:-a2k-}ag
export LBMODE_KUBE_ADDRESS=${LBMODE_KUBE_ADDRESS:-198.18.0.7}
export LBMODE_KUBE_STATE=${LBMODE_KUBE_STATE:-/tmp/lbmode-kube-a2k}
export LBMODE_KUBE_NO_INSTALL=1
sizes=${1:-10,1000} writes=${2:-20}
logs=$LBMODE_KUBE_STATE/bench-logs

cleanup() {
  ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  ip link del "$ns" 2>/dev/null || true
  [ "${BENCH_KEEP_KUBE:-0}" = 1 ] || "$root/kube/kube.sh" down >/dev/null 2>&1 || true
}
trap cleanup EXIT

eval "$("$root/kube/kube.sh" up)"
kubectl apply --server-side -f "$root/helm/lbmode/crds/" >/dev/null   # NodeDataplane, for the agent's status

ip netns del "$ns" 2>/dev/null || true; ip link del "$ns" 2>/dev/null || true
ip netns add "$ns"
ip link add "$ns" type veth peer name eth0 netns "$ns"
ip addr add 10.252.9.1/30 dev "$ns"; ip link set "$ns" up
ip netns exec "$ns" sh -c "ip addr add 10.252.9.2/30 dev eth0 && ip link set eth0 up && ip link set lo up && ip route add default via 10.252.9.1"

echo "== $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r), $(nft --version)"
"$java" -XX:+UseSerialGC -cp "$cp" io.lbmode.datapath.bench.ApiToKernelBenchmark "$sizes" "$writes" "$ns" "$root/lbmode" "$logs"
echo "logs: $logs"
