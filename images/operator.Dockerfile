# The lbmode operator and admission webhook (Quarkus fast-jar).
# Build context: the repository root, after `./mvnw -B package -pl operator -am -DskipTests`; see images/build.sh.
FROM eclipse-temurin:25-jre

# A fixed non-root uid/gid: the Helm chart runs the pod as 10001 (operator.runAsUser) with a read-only root
# filesystem, so nothing in the image needs to be writable; /tmp is an emptyDir mounted by the chart.
RUN groupadd --system --gid 10001 lbmode \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin lbmode

WORKDIR /deployments
# Layers from the least to the most often changed, as the fast-jar layout is meant to be copied.
COPY operator/target/quarkus-app/lib/ /deployments/lib/
COPY operator/target/quarkus-app/quarkus/ /deployments/quarkus/
COPY operator/target/quarkus-app/app/ /deployments/app/
COPY operator/target/quarkus-app/quarkus-run.jar /deployments/quarkus-run.jar
COPY operator/jvm.options /deployments/jvm.options

USER 10001:10001
# 8080: HTTP (health /q/health/*, metrics /q/metrics); 8443: HTTPS admission webhook (/validate-cluster).
EXPOSE 8080 8443
# JVM options from operator/jvm.options, the file ./lbmode operator uses too.
ENTRYPOINT ["java", "@/deployments/jvm.options", "-jar", "/deployments/quarkus-run.jar"]
