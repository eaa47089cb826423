#!/usr/bin/env bash
# Benchmark (not a test): the real peer. kube-proxy v1.34 in nftables mode (built by kube/build.sh from the same
# k8s.io/kubernetes as the control plane) and lbmode's agent (SNAT, as ./lbmode datapath launches it), each in its
# own network namespace, against a real control plane (./lbmode kube up, control plane only) holding the same
# SERVICES LoadBalancer Services x ENDPOINTS endpoints created through the API. Prints one table: sync time,
# API write -> kernel latency (p50/p99 over CHANGES EndpointSlice writes, seen by `nft monitor`), RSS.
#   lab/bench/kube-proxy-vs-agent.sh [SERVICES [ENDPOINTS [CHANGES]]]      (default 10000 4 20)
# Root. Build first: ./mvnw -B -q package -pl lab -am -DskipTests. Settings (environment): BENCH_PREFIX (netns and
# link names, default l14-), LBMODE_KUBE_ADDRESS / LBMODE_KUBE_STATE (default 198.18.0.6, /tmp/lbmode-kube-bench),
# BENCH_KEEP_KUBE=1 keeps the control plane (and the Services) for another run; BENCH_AGENT_ONLY=1 skips kube-proxy;
# BENCH_AGENT_LAUNCHER=PATH runs the agent with another build's launcher (default: this tree's ./lbmode), so two runs
# on one kept control plane compare two builds.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
cp="$root/lab/target/lbmode-lab.jar:$root/lab/target/lib/*"
prefix=${BENCH_PREFIX:-l14-}
export LBMODE_KUBE_ADDRESS=${LBMODE_KUBE_ADDRESS:-198.18.0.6}
export LBMODE_KUBE_STATE=${LBMODE_KUBE_STATE:-/tmp/lbmode-kube-bench}
export LBMODE_KUBE_NO_INSTALL=1
services=${1:-10000} endpoints=${2:-4} changes=${3:-20}
proxy_ns=${prefix}kp agent_ns=${prefix}ag
logs=$LBMODE_KUBE_STATE/bench-logs

cleanup() {
  for ns in "$proxy_ns" "$agent_ns"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    ip link del "$ns" 2>/dev/null || true
  done
  [ "${BENCH_KEEP_KUBE:-0}" = 1 ] || "$root/kube/kube.sh" down >/dev/null 2>&1 || true
}
trap cleanup EXIT

eval "$("$root/kube/kube.sh" up)"
kube_proxy=$(dirname "$(command -v kubectl)")/kube-proxy
[ -x "$kube_proxy" ] || { echo "no kube-proxy next to kubectl: run kube/build.sh" >&2; exit 1; }
kubectl apply --server-side -f "$root/helm/lbmode/crds/" >/dev/null   # NodeDataplane, for the agent's status

i=0
for ns in "$proxy_ns" "$agent_ns"; do
  i=$((i + 1))
  ip netns del "$ns" 2>/dev/null || true; ip link del "$ns" 2>/dev/null || true
  ip netns add "$ns"
  ip link add "$ns" type veth peer name eth0 netns "$ns"
  ip addr add "10.252.$i.1/30" dev "$ns"; ip link set "$ns" up
  ip netns exec "$ns" sh -c "ip addr add 10.252.$i.2/30 dev eth0 && ip link set eth0 up && ip link set lo up && ip route add default via 10.252.$i.1"
done

echo "== $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r), $(nft --version)"
"$java" -XX:+UseSerialGC -cp "$cp" io.lbmode.datapath.bench.KubeProxyComparison "$services" "$endpoints" "$changes" \
  "$proxy_ns" "$agent_ns" "$([ "${BENCH_AGENT_ONLY:-0}" = 1 ] && echo - || echo "$kube_proxy")" "${BENCH_AGENT_LAUNCHER:-$root/lbmode}" "$KUBECONFIG" "$logs"
echo "logs: $logs"
[ "${BENCH_AGENT_ONLY:-0}" != 1 ] || grep -o "incremental.*" "$logs/agent.log" | tail -n "$changes"
