#!/usr/bin/env bash
# Benchmark (not a test): the agent's RSS holding SERVICES x 4 endpoints (SNAT, --state-dir, libnftables), as
# ./lbmode datapath launches it (java @datapath/jvm.options) beside the baseline of the JVM's defaults (what the
# launcher ran before the options file), in the same run; ROUNDS rounds each, interleaved, medians.
#   lab/bench/agent-rss.sh [SERVICES [ROUNDS]]        (default 10000 3)
# RSS is read 10 s after the full load (three drift checks, each reading the ruleset generation, have run by then) and the
# peak (VmHWM) is printed too. The last round of the options file also prints the JVM's native memory summary.
# Every options-file round also times 7 standalone changes (one endpoint rewritten in a file of 2,000 Services until
# the agent logs the programmed change). BASELINE_CP=DIR (a copy of an earlier build's lab/target: lbmode-lab.jar and
# lib/) adds a row "baseline": that build with the same options file (or BASELINE_OPTIONS=FILE, e.g. that build's own
# datapath/jvm.options), interleaved, for a before/after in one run.
# RSS_MODE=dsr: the Cluster in DSR mode instead (the DSR programs on the namespace's lo, pinned in a bpffs the agent
# mounts for itself: --allow-ephemeral-bpffs); the Services, their endpoints and the changes are the same.
# Root. Build first: ./mvnw -B -q package -pl lab -am -DskipTests. BENCH_PREFIX names the netns (default l14-).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
jcmd=$(dirname "$java")/jcmd
cp="$root/lab/target/lbmode-lab.jar:$root/lab/target/lib/*"
services=${1:-10000} rounds=${2:-3}
mode=${RSS_MODE:-snat}
[ "$mode" = snat ] || [ "$mode" = dsr ] || { echo "agent-rss.sh: RSS_MODE must be snat or dsr, not $mode" >&2; exit 2; }
ns=${BENCH_PREFIX:-l14-}rss-$$
work=$(mktemp -d)
agent=
cleanup() { [ -z "$agent" ] || kill "$agent" 2>/dev/null || true; wait 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
mode_args=()
[ "$mode" = snat ] || mode_args=(--interface lo --bpffs "$work/bpffs" --allow-ephemeral-bpffs)
"$java" -cp "$cp" io.lbmode.datapath.bench.StateDirGenerator "$work/state" "$services" 4 "$mode"

# run LABEL JAVA-OPTIONS...: prints "LABEL seconds-to-programmed rss-MB hwm-MB"; CP= another class path
run() {
  local label=$1; shift
  local start end
  start=$(date +%s%N)
  ip netns exec "$ns" "$java" "$@" -cp "${CP:-$cp}" io.lbmode.datapath.Main --node bench --state-dir "$work/state" \
    --health-port 0 "${mode_args[@]}" > "$work/agent.log" 2>&1 &
  agent=$!
  for _ in $(seq 1 600); do grep -q "programmed $mode" "$work/agent.log" && break; kill -0 $agent 2>/dev/null || break; sleep 0.1; done
  end=$(date +%s%N)
  grep -q "programmed $mode" "$work/agent.log" || { echo "$label: agent did not program:"; tail -5 "$work/agent.log"; exit 1; }
  sleep 10
  echo "$label $(( (end - start) / 1000000 )) $(awk '/VmRSS/{printf "%.0f", $2/1024}' /proc/$agent/status) $(awk '/VmHWM/{printf "%.0f", $2/1024}' /proc/$agent/status)" >> "$work/results"
  if [ -n "${NMT:-}" ]; then
    "$jcmd" $agent VM.native_memory summary | grep -E "^Total|^-" | grep -v "reserved=0KB" > "$work/nmt"
  fi
  if [ "$label" != defaults ]; then
    # Standalone change latency: rewrite one endpoint of one Service in a file of 2,000 Services (back and forth, so
    # every round starts from the same files), time until the agent logs the incremental change it programmed (the
    # log line follows the kernel's answer).
    for c in 1 2 3 4 5 6 7; do
      local before after t0 t1 from to
      if grep -q "\[10\.100\.0\.$c\]" "$work/state/services-0.yaml"; then from="10\.100\.0\.$c" to="10.201.0.$c"; else from="10\.201\.0\.$c" to="10.100.0.$c"; fi
      before=$(grep -c "incremental" "$work/agent.log" || true)
      t0=$(date +%s%N)
      sed -i "s/\[$from\]/[$to]/" "$work/state/services-0.yaml"
      for _ in $(seq 1 600); do after=$(grep -c "incremental" "$work/agent.log" || true); [ "$after" -gt "$before" ] && break; sleep 0.005; done
      t1=$(date +%s%N)
      echo "$label $(( (t1 - t0) / 1000000 ))" >> "$work/changes"
      sleep 1
    done
  fi
  kill $agent; wait $agent 2>/dev/null || true; agent=
}

for r in $(seq 1 "$rounds"); do
  run defaults --enable-native-access=ALL-UNNAMED
  if [ "$r" = "$rounds" ]; then NMT=1 run jvm.options @"$root/datapath/jvm.options" -XX:NativeMemoryTracking=summary
  else run jvm.options @"$root/datapath/jvm.options"; fi
  # ALT_OPTIONS: a third row, the options file followed by these (later flags win), to try an alternative.
  if [ -n "${ALT_OPTIONS:-}" ]; then run alternative @"$root/datapath/jvm.options" $ALT_OPTIONS; fi
  if [ -n "${BASELINE_CP:-}" ]; then CP="$BASELINE_CP/lbmode-lab.jar:$BASELINE_CP/lib/*" run baseline @"${BASELINE_OPTIONS:-$root/datapath/jvm.options}"; fi
done

echo "== agent RSS, $services Services x 4 endpoints, $([ "$mode" = dsr ] && echo "DSR via libbpf" || echo "SNAT via libnftables"), --state-dir; $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GB,"
echo "   load $(cut -d' ' -f1-3 /proc/loadavg) at the end; $rounds rounds each, interleaved; medians (all rounds in brackets)"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf "%-14s %14s %14s %14s\n" "JVM options" "programmed s" "RSS MB" "peak RSS MB"
for label in defaults jvm.options ${ALT_OPTIONS:+alternative} ${BASELINE_CP:+baseline}; do
  prog=$(awk -v l=$label '$1==l{print $2/1000}' "$work/results" | median)
  rss=$(awk -v l=$label '$1==l{print $3}' "$work/results" | median)
  hwm=$(awk -v l=$label '$1==l{print $4}' "$work/results" | median)
  all=$(awk -v l=$label '$1==l{printf "%s ", $3}' "$work/results")
  printf "%-14s %14s %14s %14s   [%s]\n" "$label" "$prog" "$rss" "$hwm" "${all% }"
done
d=$(awk '$1=="defaults"{print $3}' "$work/results" | median); o=$(awk '$1=="jvm.options"{print $3}' "$work/results" | median)
echo "RSS ratio defaults / jvm.options: $(awk -v d=$d -v o=$o 'BEGIN{printf "%.1fx", d/o}')"
[ -z "${ALT_OPTIONS:-}" ] || echo "alternative: datapath/jvm.options then $ALT_OPTIONS"
echo "datapath/jvm.options: $(grep -v '^#' "$root/datapath/jvm.options" | tr '\n' ' ')"
echo "standalone (--state-dir, 5 files of 2,000 Services): one endpoint rewritten in a file -> programmed, ms:"
for label in jvm.options ${ALT_OPTIONS:+alternative} ${BASELINE_CP:+baseline}; do
  printf "  %-12s median %6s  all [%s]\n" "$label" "$(awk -v l=$label '$1==l{print $2}' "$work/changes" | median)" \
    "$(awk -v l=$label '$1==l{printf "%s ", $2}' "$work/changes" | sed 's/ $//')"
done
if [ -n "${BASELINE_CP:-}" ]; then
  b=$(awk '$1=="baseline"{print $2}' "$work/changes" | median); o=$(awk '$1=="jvm.options"{print $2}' "$work/changes" | median)
  echo "  change ratio baseline / this build: $(awk -v b=$b -v o=$o 'BEGIN{printf "%.1fx", b/o}')"
  b=$(awk '$1=="baseline"{print $3}' "$work/results" | median); o=$(awk '$1=="jvm.options"{print $3}' "$work/results" | median)
  echo "  RSS ratio baseline / this build: $(awk -v b=$b -v o=$o 'BEGIN{printf "%.2fx", b/o}')"
fi
echo "== native memory (NMT, last jvm.options round; RSS also holds libnftables' malloc heap, which NMT does not see)"
cat "$work/nmt"
