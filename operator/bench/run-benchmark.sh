#!/usr/bin/env bash
# Operator benchmark (not a timed test): admission latency over HTTPS against a trivial endpoint on the same server,
# saturation throughput, time to bring 1,000 Clusters to Valid, and RSS. Usage: operator/bench/run-benchmark.sh [seconds-per-round] [clusters]
# One build with -Pbench into target/bench-app: the operator under test (the production app plus src/bench/java,
# which serves the trivial endpoint) and the load generator, OperatorBenchmark, from the test classes.
# Output: target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
(cd .. && ./mvnw -B -q package dependency:build-classpath -pl operator -am -Pbench -DskipTests \
  -Dmdep.includeScope=test -Dmdep.outputFile=target/bench-classpath.txt)
exec "$JAVA_HOME/bin/java" -cp "target/bench-app/test-classes:target/bench-app/classes:$(cat target/bench-classpath.txt)" \
  io.lbmode.operator.bench.OperatorBenchmark "$@"
