#!/usr/bin/env bash
# Benchmark (not a test): nftables programming cost of lbmode's SNAT layout vs a kube-proxy-style layout, and the
# agent's RSS with 10,000 services. Root; runs in scratch network namespaces it removes afterwards.
#   lab/bench/nft-load.sh [SERVICES...]        (default: 1000 10000)
# Build first: ./mvnw -B -q package -pl lab -am -DskipTests. BASELINE_CP=CLASSPATH (another build's
# lab/target/lbmode-lab.jar:lab/target/lib/*, e.g. main's) runs that build's agent too, interleaved with this one's.
# AGENT_ONLY=1 skips the programming benchmark (agents only). The agents run as ./lbmode datapath runs them (this
# tree's datapath/jvm.options, both builds) unless AGENT_JAVA_OPTS says otherwise; NFT_LOAD_ROUNDS rounds (default 3).
# NFT_LOAD_KP_REPLACE=1 also measures the kube-proxy layout's full replace at 10,000 services (about 4 minutes).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
cp="$root/lab/target/lbmode-lab.jar:$root/lab/target/lib/*"   # lib/ holds the agent jar too
ns=lbmode-bench-$$
work=$(mktemp -d)
cleanup() { ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$ns"

echo "== $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r), $(nft --version)"
if [ "${AGENT_ONLY:-0}" != 1 ]; then
  echo "== programming time (median ms), same run, same kernel boundary"
  ip netns exec "$ns" "$java" --enable-native-access=ALL-UNNAMED -cp "$cp" io.lbmode.datapath.bench.NftLoadBenchmark "$@"
fi

echo "== the agent's first full load and RSS with 10,000 services x 4 endpoints (real agent, --state-dir, SNAT): into a node without the table, and a restart that finds it"
"$java" -cp "$cp" io.lbmode.datapath.bench.StateDirGenerator "$work/state" 10000 4
runs=0
agent_opts=${AGENT_JAVA_OPTS:-@$root/datapath/jvm.options}
agent_run() { # LABEL CLASSPATH [keep]: keep = start on the table the previous run left (a restart)
  [ "${3:-}" = keep ] || ip netns exec "$ns" nft flush ruleset
  runs=$((runs + 1))
  log="$work/agent-$runs.log"   # one log per run: nothing of the previous agent in it
  ip netns exec "$ns" "$java" --enable-native-access=ALL-UNNAMED $agent_opts -cp "$2" io.lbmode.datapath.Main \
    --node bench --state-dir "$work/state" --health-port 0 > "$log" 2>&1 &
  agent=$!
  for _ in $(seq 1 120); do
    grep -q "programmed snat" "$log" 2>/dev/null && break
    sleep 0.5
  done
  grep -q "programmed snat" "$log" || { cat "$log"; exit 1; }
  echo "$1: $(grep -o "full.*changes in [0-9.]* ms" "$log" | head -1)"
  sleep 2
  echo "$1: agent VmRSS: $(grep VmRSS /proc/$agent/status | awk '{print $2/1024 " MB"}') (java options: $agent_opts; after the full load)"
  kill $agent
  while kill -0 $agent 2>/dev/null; do sleep 0.2; done
}
for round in $(seq 1 "${NFT_LOAD_ROUNDS:-3}"); do
  if [ -n "${BASELINE_CP:-}" ]; then
    agent_run "baseline, no table (round $round)" "$BASELINE_CP"
    agent_run "baseline, restart (round $round)" "$BASELINE_CP" keep
  fi
  agent_run "this build, no table (round $round)" "$cp"
  agent_run "this build, restart (round $round)" "$cp" keep
done
