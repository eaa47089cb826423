#!/usr/bin/env bash
# Operator benchmark (not a timed test): admission latency over HTTPS against a trivial endpoint on the same server,
# saturation throughput, time to bring 1,000 Clusters to Valid, and RSS. Usage: operator/bench/run-benchmark.sh [seconds-per-round] [clusters]
# The operator under test is built with -Pbench into target/bench-app (the production app plus src/bench/java, which
# serves the trivial endpoint); the load generator is OperatorBenchmark from the test classes. Output: target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
module="$PWD"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
if [ ! -f target/bench-app/quarkus-app/quarkus-run.jar ] || [ ! -d target/test-classes ]; then
  (cd .. && ./mvnw -B -q package -pl operator -am -DskipTests)
  (cd .. && ./mvnw -B -q package -pl operator -am -Pbench -DskipTests)
fi
(cd .. && ./mvnw -B -q dependency:build-classpath -pl operator -am -Dmdep.includeScope=test -Dmdep.outputFile=target/bench-classpath.txt)
exec "$JAVA_HOME/bin/java" -cp "target/test-classes:target/classes:$(cat target/bench-classpath.txt)" \
  io.lbmode.operator.bench.OperatorBenchmark "$@"
