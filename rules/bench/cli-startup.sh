#!/usr/bin/env bash
# Benchmark (not a test): wall time of `lbmode validate examples/*.yaml` with the JVM's default flags (baseline)
# against C1-only + SerialGC, interleaved in the same run. Prints each run, the medians and the ratio.
# Usage: rules/bench/cli-startup.sh [RUNS]   (needs rules/target/lbmode-rules.jar: ./mvnw -B -q package -pl rules -am -DskipTests)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RUNS="${1:-7}"
JAVA="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java"
CP="$ROOT/rules/target/lbmode-rules.jar:$ROOT/rules/target/lib/*"
[[ -f "$ROOT/rules/target/lbmode-rules.jar" ]] || { echo "build first: ./mvnw -B -q package -pl rules -am -DskipTests" >&2; exit 2; }

run() { # prints seconds
  local start end
  start=$(date +%s.%N)
  "$JAVA" "$@" -cp "$CP" io.lbmode.cli.Main validate "$ROOT"/examples/*.yaml >/dev/null 2>&1
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f\n", b - a}'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

base=(); fast=()
for ((i = 1; i <= RUNS; i++)); do
  b=$(run); f=$(run -XX:TieredStopAtLevel=1 -XX:+UseSerialGC)
  base+=("$b"); fast+=("$f")
  printf 'run %d: default %.3f s, C1+SerialGC %.3f s\n' "$i" "$b" "$f"
done
mb=$(printf '%s\n' "${base[@]}" | median); mf=$(printf '%s\n' "${fast[@]}" | median)
printf 'median: default %.3f s, C1+SerialGC %.3f s, ratio %.2f (load: %s)\n' "$mb" "$mf" "$(awk -v a="$mf" -v b="$mb" 'BEGIN {print a / b}')" "$(cut -d' ' -f1-3 /proc/loadavg)"
