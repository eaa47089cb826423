#!/usr/bin/env bash
# Benchmark (not a test): what the DSR programs cost each packet of real traffic, from the kernel's own counters
# (kernel.bpf_stats_enabled=1: run_time_ns / run_cnt of each attached program). A DSR lab as './lbmode lab up --mode
# dsr' builds it (Service web, 172.16.20.16, over three pods; the real agents), REQUESTS HTTP requests from the client
# (curl, a new connection each), then each node's dsr_ingress and dsr_egress on eth0: packets and ns per packet. On
# the LB node, dsr_egress sees what dsr_ingress redirects (every client -> pod packet) and little else.
# BASELINE_CP=DIR (a copy of an earlier build's lab/target: lbmode-lab.jar and lib/) runs the same with that build,
# ROUNDS rounds each, interleaved, medians.
#   lab/bench/dsr-prog-stats.sh [REQUESTS [ROUNDS]]      (default 300 3)
# Root. Build first: ./mvnw -B -q package -pl lab -am -DskipTests. BENCH_PREFIX names the lab (default dsrstat).
# kernel.bpf_stats_enabled is global (it costs every BPF program on the machine a little): it is on only while the
# requests run and put back as it was.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
cp="$root/lab/target/lbmode-lab.jar:$root/lab/target/lib/*"
requests=${1:-300} rounds=${2:-3}
prefix=${BENCH_PREFIX:-dsrstat}
[ "$(id -u)" = 0 ] || { echo "dsr-prog-stats.sh: run as root (network namespaces, BPF)" >&2; exit 1; }
[ -f "$root/lab/target/lbmode-lab.jar" ] || { echo "dsr-prog-stats.sh: build first: ./mvnw -B -q package -pl lab -am -DskipTests" >&2; exit 1; }
stats_before=$(sysctl -n kernel.bpf_stats_enabled)
results=$(mktemp)
cleanup() {
  sysctl -qw kernel.bpf_stats_enabled="$stats_before"
  "$java" --enable-native-access=ALL-UNNAMED -cp "$cp" io.lbmode.lab.LabMain down --name "$prefix" >/dev/null 2>&1 || true
  rm -f "$results"
}
trap cleanup EXIT

# run LABEL CLASSPATH: one lab up, the requests with the counters on, one line per node and program into $results
run() {
  local label=$1 classpath=$2
  "$java" --enable-native-access=ALL-UNNAMED -cp "$classpath" io.lbmode.lab.LabMain up --mode dsr --name "$prefix" >/dev/null
  sysctl -qw kernel.bpf_stats_enabled=1
  for _ in $(seq 1 "$requests"); do
    ip netns exec "$prefix-client" curl -s -o /dev/null --max-time 5 http://172.16.20.16/ || true
  done
  sysctl -qw kernel.bpf_stats_enabled="$stats_before"
  for node in lb w1 w2; do
    for dir in ingress egress; do
      id=$(ip netns exec "$prefix-$node" tc filter show dev eth0 "$dir" | sed -n 's/.* id \([0-9]*\) .*/\1/p' | head -1)
      bpftool prog show id "$id" | sed -n 's/.*run_time_ns \([0-9]*\) run_cnt \([0-9]*\).*/\1 \2/p' |
        awk -v l="$label" -v n="$node" -v d="$dir" '{ printf "%s %s-%s %d %.0f\n", l, n, d, $2, $2 ? $1 / $2 : 0 }' >> "$results"
    done
  done
  "$java" --enable-native-access=ALL-UNNAMED -cp "$classpath" io.lbmode.lab.LabMain down --name "$prefix" >/dev/null
}

for r in $(seq 1 "$rounds"); do
  if [ -n "${BASELINE_CP:-}" ]; then run baseline "$BASELINE_CP/lbmode-lab.jar:$BASELINE_CP/lib/*"; fi
  run this "$cp"
  echo "round $r (load $(cut -d' ' -f1-3 /proc/loadavg)):"
  lines=6; [ -z "${BASELINE_CP:-}" ] || lines=12
  tail -n "$lines" "$results" | sed 's/^/  /'
done
echo "medians over $rounds rounds (label program packets ns-per-packet):"
for label in ${BASELINE_CP:+baseline} this; do
  for prog in lb-ingress lb-egress w1-ingress w1-egress w2-ingress w2-egress; do
    awk -v l="$label" -v p="$prog" '$1 == l && $2 == p { print $3, $4 }' "$results" | sort -n -k2 |
      awk -v l="$label" -v p="$prog" '{ c[NR] = $1; t[NR] = $2 } END { m = int((NR + 1) / 2); printf "  %s %s %d %d\n", l, p, c[m], t[m] }'
  done
done
