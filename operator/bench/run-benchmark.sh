#!/usr/bin/env bash
# Operator benchmark (not a timed test): admission latency over HTTPS against a trivial endpoint on the same server,
# saturation throughput, time to bring 1,000 Clusters to Valid, and RSS. Usage: operator/bench/run-benchmark.sh [seconds-per-round] [clusters]
set -euo pipefail
cd "$(dirname "$0")/.."
module="$PWD"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
if [ ! -f target/quarkus-app/quarkus-run.jar ] || [ ! -d target/test-classes ]; then
  (cd .. && ./mvnw -B -q -o package -pl operator -DskipTests)
fi
(cd .. && ./mvnw -B -q -o dependency:build-classpath -pl operator -Dmdep.includeScope=test -Dmdep.outputFile="$module/target/bench-classpath.txt")
exec "$JAVA_HOME/bin/java" -cp "target/test-classes:target/classes:$(cat target/bench-classpath.txt)" \
  io.lbmode.operator.bench.OperatorBenchmark "$@"
