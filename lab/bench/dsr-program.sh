#!/usr/bin/env bash
# DSR map programming at 10,000 service ports as an agent meets it (benchmark, not a test): one fresh JVM per round
# with the agent's JVM options (datapath/jvm.options), running io.lbmode.datapath.bpf.DsrProgramBenchmark as root in
# a scratch network namespace with its own bpffs, then a second fresh JVM that adopts the maps the first left pinned
# (coldRestart: what an agent's restart costs); prints each round and the medians.
# BASELINE_CP=DIR (a copy of an earlier build's lab/target) runs that build's DsrProgrammer in rounds interleaved
# with this build's (the benchmark class is this build's: it uses only DsrProgrammer's public API), and the ratios.
# usage: lab/bench/dsr-program.sh [ROUNDS] [distinct|shared]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)   # the lab module
[ "$(id -u)" = 0 ] || { echo "dsr-program.sh: run as root (network namespace, bpffs, BPF maps)" >&2; exit 1; }
[ -d "$here/target/lib" ] || { echo "dsr-program.sh: build first: ./mvnw -B -o package -pl lab -am -DskipTests" >&2; exit 1; }
rounds=${1:-5}
layout=${2:-distinct}
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
opts="$here/../datapath/jvm.options"
ns=lbmode-bench-$$
dir=/run/$ns
out=$(mktemp)
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$dir" "$out"; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
mkdir -p "$dir/bpffs"
# the rounds' JVM leaves its maps pinned (keep); a second, fresh JVM adopts them (coldRestart: an agent's restart)
run() { # name classpath
  bench="'$java' @'$opts' ${BENCH_JAVA_OPTS:-} -cp '$2' io.lbmode.datapath.bpf.DsrProgramBenchmark '$dir/bpffs' lo $layout"
  ip netns exec "$ns" sh -c "mount -t bpf bpf '$dir/bpffs' && $bench keep && exec $bench adopt" \
    | sed -n "s/^RESULT /$1 /p" | tee -a "$out"
}
echo "# $layout layout, $rounds rounds, load: $(uptime | sed 's/.*load average: //')"
for r in $(seq "$rounds"); do
  [ -z "${BASELINE_CP:-}" ] || run baseline "$here/target/lbmode-lab.jar:$BASELINE_CP/lib/*"
  run this "$here/target/lbmode-lab.jar:$here/target/lib/*"
done
echo "# load after: $(uptime | sed 's/.*load average: //')"
# medians per build and field, then this/baseline
awk '
{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[$1, kv[1], ++n[$1, kv[1]]] = kv[2]; keys[kv[1]] = 1 } builds[$1] = 1 }
function median(b, k,   m, i, j, t, a) { m = n[b, k]; for (i = 1; i <= m; i++) a[i] = v[b, k, i]
  for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
  return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
END { for (k in keys) { line = sprintf("median %-15s", k); for (b in builds) { med[b] = n[b, k] ? median(b, k) : -1
    line = line (med[b] < 0 ? sprintf(" %s %8s", b, "-") : sprintf(" %s %8.2f", b, med[b])) }
  if (("baseline" in builds) && med["baseline"] > 0 && med["this"] >= 0) line = line sprintf("  this/baseline %.2f", med["this"] / med["baseline"]); print line } }
' "$out"
