# The lbmode datapath agent (one pod per node, deployed by the operator as DaemonSet lbmode-datapath).
# Build context: the repository root, after `./mvnw -B package -pl datapath -am -DskipTests`; see images/build.sh.
# The compiled BPF objects ship inside lbmode-datapath.jar (bpf/*.o), built by clang during the Maven build. The jar
# and target/lib hold the agent only: the lab, the demo, the benchmarks and the test fakes live in lab/ and in the
# datapath test-jar, which this image never copies (e2e AgentJarContentsTest checks the jar and target/lib).
FROM eclipse-temurin:25-jre AS jre

# Debian, like the machines lbmode is developed and tested on: libnftables1 (SNAT, via java.lang.foreign),
# libbpf1 (DSR maps and programs, via java.lang.foreign; Debian 12 ships 1.1 with bpf_tc_attach), bpftool and nft
# for debugging from `kubectl exec`, iproute2 and conntrack for the same reason.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      nftables libnftables1 libbpf1 bpftool iproute2 conntrack ca-certificates \
 && rm -rf /var/lib/apt/lists/*

ENV JAVA_HOME=/opt/java/openjdk
ENV PATH=/opt/java/openjdk/bin:$PATH
COPY --from=jre /opt/java/openjdk /opt/java/openjdk

COPY datapath/target/lib/ /app/lib/
COPY datapath/target/lbmode-datapath.jar /app/lbmode-datapath.jar
# The agent's JVM options (heap ceiling, collector): the same file ./lbmode datapath reads.
COPY datapath/jvm.options /app/jvm.options

# Runs as root on purpose: the DaemonSet grants only NET_ADMIN and BPF (all else dropped, not privileged), and
# file capabilities of a non-root user would not carry them into the JVM.
# 9102: GET /healthz and GET /metrics (host network; --health-port changes it).
EXPOSE 9102
ENTRYPOINT ["java", "@/app/jvm.options", "-cp", "/app/lbmode-datapath.jar:/app/lib/*", "io.lbmode.datapath.Main"]
