package io.lbmode.e2e.chart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.marcnuri.helm.LintResult;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The chart renders with the real Helm engine, with default values and with every documented option. */
@Tag("apiserver")
class ChartRenderTest {

    /** Every kind the chart renders and the fabric8 class it must deserialize into (not a generic map). */
    private static final Map<String, Class<? extends HasMetadata>> TYPED_KINDS = Map.ofEntries(
            Map.entry("ServiceAccount", ServiceAccount.class),
            Map.entry("ClusterRole", ClusterRole.class),
            Map.entry("ClusterRoleBinding", ClusterRoleBinding.class),
            Map.entry("Role", Role.class),
            Map.entry("RoleBinding", RoleBinding.class),
            Map.entry("Service", Service.class),
            Map.entry("Secret", Secret.class),
            Map.entry("Deployment", Deployment.class),
            Map.entry("PodDisruptionBudget", PodDisruptionBudget.class),
            Map.entry("ValidatingWebhookConfiguration", ValidatingWebhookConfiguration.class),
            Map.entry("ValidatingAdmissionPolicy", io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicy.class),
            Map.entry("ValidatingAdmissionPolicyBinding", io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicyBinding.class));

    /** Sets every key of values.yaml to a non-default value. */
    static final String ALL_OPTIONS = """
            nameOverride: lbm
            fullnameOverride: lbm-edge
            imagePullSecrets:
              - name: regcred
              - name: mirror
            operator:
              image:
                repository: registry.example.com/lbmode/operator
                tag: 0.2.0-rc1
                pullPolicy: Always
              replicas: 3
              resources:
                requests: {cpu: 200m, memory: 256Mi}
                limits: {cpu: "2", memory: 1Gi}
              logLevel: DEBUG
              runAsUser: 2000
              podAnnotations: {example.com/team: network}
              podLabels: {example.com/tier: infra}
              nodeSelector: {node-role.kubernetes.io/control-plane: ""}
              tolerations:
                - key: node-role.kubernetes.io/control-plane
                  operator: Exists
                  effect: NoSchedule
              affinity:
                nodeAffinity:
                  requiredDuringSchedulingIgnoredDuringExecution:
                    nodeSelectorTerms:
                      - matchExpressions:
                          - {key: kubernetes.io/os, operator: In, values: [linux]}
              priorityClassName: system-cluster-critical
              extraEnv:
                - {name: JAVA_TOOL_OPTIONS, value: "-XX:+UseSerialGC"}
              podDisruptionBudget:
                enabled: true
            datapath:
              image:
                repository: registry.example.com/lbmode/datapath
                tag: 0.2.0-rc1
                pullPolicy: Never
              resources:
                requests: {cpu: 100m, memory: 200Mi}
                limits: {cpu: "1500m", memory: 300Mi}
              tolerations:
                - {key: dedicated, operator: Equal, value: lb, effect: NoExecute}
                - {key: node-role.kubernetes.io/control-plane, operator: Exists}
                - {key: lb-only, operator: Exists, effect: NoSchedule}
              interface: bond0.100
              healthPort: 19102
              healthAddress: 127.0.0.1
              priorityClassName: lbmode-datapath
              extraCapabilities: [PERFMON, SYS_RESOURCE]
            webhook:
              port: 9443
              timeoutSeconds: 3
              certDir: /var/run/lbmode/tls
              certValidityDays: 365
              excludeNamespaces: [flux-system]
              certManager:
                enabled: false
                issuerRef: {}
            """;

    private static MockApiServer api;

    @BeforeAll
    static void startApiServer() {
        api = new MockApiServer();
    }

    @AfterAll
    static void stopApiServer() {
        api.close();
    }

    @Test
    void lintPassesInStrictMode() {
        LintResult result = HelmChart.lint();
        assertThat(result.isFailed()).as("helm lint --strict: %s", result.getMessages()).isFalse();
        assertThat(result.getMessages()).noneMatch(m -> m.contains("[ERROR]") || m.contains("[WARNING]"));
    }

    @Test
    void defaultValuesRenderEveryObjectIntoItsFabric8Type() {
        HelmChart.Rendered rendered = HelmChart.template(Map.of());

        assertThat(rendered.objects()).allSatisfy(o -> {
            assertThat(TYPED_KINDS).as("kinds rendered by default").containsKey(o.getKind());
            assertThat(o).isExactlyInstanceOf(TYPED_KINDS.get(o.getKind()));
        });
        Set<String> names = rendered.objects().stream().map(o -> o.getKind() + "/" + o.getMetadata().getName())
                .collect(Collectors.toCollection(TreeSet::new));
        assertThat(names).containsExactlyInAnyOrder(
                "ServiceAccount/lbmode-operator", "ServiceAccount/lbmode-datapath",
                "ClusterRole/lbmode-operator-lbmode-system", "ClusterRoleBinding/lbmode-operator-lbmode-system",
                "Role/lbmode-operator", "RoleBinding/lbmode-operator",
                "ClusterRole/lbmode-datapath-lbmode-system", "ClusterRoleBinding/lbmode-datapath-lbmode-system",
                "Role/lbmode-datapath", "RoleBinding/lbmode-datapath",
                "Service/lbmode-webhook", "Secret/lbmode-webhook-tls", "Deployment/lbmode-operator",
                "PodDisruptionBudget/lbmode-operator", "ValidatingWebhookConfiguration/lbmode-lbmode-system",
                "ValidatingAdmissionPolicy/lbmode-lbmode-system-forward-mode",
                "ValidatingAdmissionPolicyBinding/lbmode-lbmode-system-forward-mode");
        assertThat(rendered.objects()).filteredOn(o -> !o.getKind().startsWith("Cluster")
                        && !o.getKind().startsWith("ValidatingAdmissionPolicy")
                        && !o.getKind().equals("ValidatingWebhookConfiguration"))
                .allSatisfy(o -> assertThat(o.getMetadata().getNamespace()).isEqualTo(HelmChart.NAMESPACE));
    }

    @Test
    void operatorDeploymentIsHardenedProbedAndLeaderElected() {
        Deployment deployment = HelmChart.template(Map.of()).one(Deployment.class, "lbmode-operator");
        var pod = deployment.getSpec().getTemplate().getSpec();
        Container operator = pod.getContainers().getFirst();

        assertThat(deployment.getSpec().getReplicas()).isEqualTo(2);
        assertThat(pod.getServiceAccountName()).isEqualTo("lbmode-operator");
        assertThat(pod.getSecurityContext().getRunAsNonRoot()).isTrue();
        assertThat(pod.getSecurityContext().getRunAsUser()).isPositive();
        assertThat(operator.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(operator.getSecurityContext().getAllowPrivilegeEscalation()).isFalse();
        assertThat(operator.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(operator.getResources().getRequests()).containsKeys("cpu", "memory");
        assertThat(operator.getResources().getLimits()).containsKeys("cpu", "memory");
        assertThat(operator.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/q/health/live");
        assertThat(operator.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/q/health/ready");
        assertThat(operator.getLivenessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("http");
        assertThat(operator.getPorts()).anySatisfy(p -> {
            assertThat(p.getName()).isEqualTo("http");
            assertThat(p.getContainerPort()).isEqualTo(8080);
        });
        // Names as the operator's OperatorConfig (@ConfigMapping prefix "lbmode") reads them from the environment.
        assertThat(env(operator))
                .containsEntry("LBMODE_LEADER_ELECTION_LEASE_NAMESPACE", HelmChart.NAMESPACE)
                .containsEntry("LBMODE_DATAPATH_IMAGE", "ghcr.io/lbmode/lbmode-datapath:0.1.0")
                .containsEntry("LBMODE_DATAPATH_SERVICE_ACCOUNT", "lbmode-datapath")
                .containsEntry("LBMODE_DATAPATH_TOLERATE_ALL", "true")
                .containsEntry("LBMODE_DATAPATH_PRIORITY_CLASS_NAME", "system-node-critical")
                .containsEntry("LBMODE_DATAPATH_RESOURCES_CPU_REQUEST", "100m")
                .containsEntry("LBMODE_DATAPATH_RESOURCES_MEMORY_LIMIT", "512Mi")
                .containsEntry("LBMODE_WEBHOOK_CERT_DIR", "/etc/lbmode/webhook-tls")
                .doesNotContainKeys("LBMODE_DATAPATH_INTERFACE", "LBMODE_DATAPATH_TOLERATIONS",
                        "LBMODE_DATAPATH_RESOURCES_CPU_LIMIT");
        assertThat(operator.getImage()).isEqualTo("ghcr.io/lbmode/lbmode-operator:0.1.0");
        // The only writable path is an emptyDir at /tmp; the certificate is mounted read-only.
        assertThat(operator.getVolumeMounts()).allSatisfy(m -> assertThat(
                m.getMountPath().equals("/tmp") || Boolean.TRUE.equals(m.getReadOnly())).isTrue());
    }

    @Test
    void everyDocumentedOptionRendersAndTakesEffect() throws IOException {
        Set<String> set = leafKeys(yaml(ALL_OPTIONS));
        assertThat(leafKeys(yaml(Files.readString(HelmChart.chartDir().resolve("values.yaml")))))
                .as("ALL_OPTIONS must set every key documented in values.yaml")
                .allSatisfy(documented -> assertThat(set).anyMatch(k -> k.equals(documented)
                        || k.startsWith(documented + ".")));

        HelmChart.Rendered rendered = HelmChart.template(ALL_OPTIONS);

        Deployment deployment = rendered.one(Deployment.class, "lbm-edge-operator");
        var pod = deployment.getSpec().getTemplate().getSpec();
        Container operator = pod.getContainers().getFirst();
        assertThat(deployment.getSpec().getReplicas()).isEqualTo(3);
        assertThat(operator.getImage()).isEqualTo("registry.example.com/lbmode/operator:0.2.0-rc1");
        assertThat(operator.getImagePullPolicy()).isEqualTo("Always");
        assertThat(operator.getResources().getLimits().get("memory").toString()).isEqualTo("1Gi");
        assertThat(pod.getSecurityContext().getRunAsUser()).isEqualTo(2000L);
        assertThat(pod.getImagePullSecrets()).extracting("name").containsExactly("regcred", "mirror");
        assertThat(pod.getNodeSelector()).containsKey("node-role.kubernetes.io/control-plane");
        assertThat(pod.getTolerations()).extracting("key").containsExactly("node-role.kubernetes.io/control-plane");
        assertThat(pod.getAffinity().getNodeAffinity()).isNotNull();
        assertThat(pod.getAffinity().getPodAntiAffinity()).isNull();
        assertThat(pod.getPriorityClassName()).isEqualTo("system-cluster-critical");
        assertThat(deployment.getSpec().getTemplate().getMetadata().getAnnotations())
                .containsEntry("example.com/team", "network");
        assertThat(deployment.getSpec().getTemplate().getMetadata().getLabels())
                .containsEntry("example.com/tier", "infra");
        assertThat(operator.getPorts()).anySatisfy(p -> assertThat(p.getContainerPort()).isEqualTo(9443));
        assertThat(operator.getVolumeMounts()).anySatisfy(m -> assertThat(m.getMountPath())
                .isEqualTo("/var/run/lbmode/tls"));
        assertThat(env(operator))
                .containsEntry("JAVA_TOOL_OPTIONS", "-XX:+UseSerialGC")
                .containsEntry("QUARKUS_LOG_CATEGORY__IO_LBMODE__LEVEL", "DEBUG")
                .containsEntry("LBMODE_DATAPATH_IMAGE", "registry.example.com/lbmode/datapath:0.2.0-rc1")
                .containsEntry("LBMODE_DATAPATH_IMAGE_PULL_POLICY", "Never")
                .containsEntry("LBMODE_DATAPATH_INTERFACE", "bond0.100")
                .containsEntry("LBMODE_DATAPATH_TOLERATE_ALL", "false")
                .containsEntry("LBMODE_DATAPATH_TOLERATIONS",
                        "dedicated=lb:NoExecute,node-role.kubernetes.io/control-plane:Exists,lb-only:NoSchedule")
                .containsEntry("LBMODE_DATAPATH_PRIORITY_CLASS_NAME", "lbmode-datapath")
                .containsEntry("LBMODE_DATAPATH_EXTRA_CAPABILITIES", "PERFMON,SYS_RESOURCE")
                .containsEntry("LBMODE_DATAPATH_RESOURCES_CPU_REQUEST", "100m")
                .containsEntry("LBMODE_DATAPATH_RESOURCES_MEMORY_REQUEST", "200Mi")
                .containsEntry("LBMODE_DATAPATH_RESOURCES_CPU_LIMIT", "1500m")
                .containsEntry("LBMODE_DATAPATH_RESOURCES_MEMORY_LIMIT", "300Mi")
                .containsEntry("LBMODE_DATAPATH_HEALTH_PORT", "19102")
                .containsEntry("LBMODE_DATAPATH_HEALTH_ADDRESS", "127.0.0.1")
                .containsEntry("LBMODE_DATAPATH_SERVICE_ACCOUNT", "lbm-edge-datapath")
                .containsEntry("LBMODE_WEBHOOK_CERT_DIR", "/var/run/lbmode/tls");
        assertThat(rendered.one(PodDisruptionBudget.class, "lbm-edge-operator").getSpec().getMinAvailable()
                .getIntVal()).isEqualTo(1);
        assertThat(rendered.all(ServiceAccount.class)).allSatisfy(sa ->
                assertThat(sa.getImagePullSecrets()).extracting("name").containsExactly("regcred", "mirror"));

        var webhook = rendered.only(ValidatingWebhookConfiguration.class).getWebhooks().getFirst();
        assertThat(webhook.getTimeoutSeconds()).isEqualTo(3);
        assertThat(webhook.getNamespaceSelector().getMatchExpressions().getFirst().getValues())
                .containsExactly("kube-system", HelmChart.NAMESPACE, "flux-system");
        assertThat(rendered.one(Service.class, "lbm-edge-webhook").getSpec().getPorts())
                .anySatisfy(p -> assertThat(p.getTargetPort().getStrVal()).isEqualTo("https"));
    }

    @Test
    void certManagerReplacesTheGeneratedCertificate() {
        HelmChart.Rendered selfSigned = HelmChart.template(Map.of("webhook.certManager.enabled", true));
        assertThat(selfSigned.all(Secret.class)).isEmpty();
        var generic = selfSigned.all(GenericKubernetesResource.class);
        assertThat(generic).extracting(HasMetadata::getKind).containsExactlyInAnyOrder("Issuer", "Certificate");
        GenericKubernetesResource certificate = generic.stream().filter(g -> g.getKind().equals("Certificate"))
                .findFirst().orElseThrow();
        assertThat(certificate.getApiVersion()).isEqualTo("cert-manager.io/v1");
        assertThat((String) certificate.get("spec", "secretName")).isEqualTo("lbmode-webhook-tls");
        assertThat((java.util.List<Object>) certificate.get("spec", "dnsNames")).contains("lbmode-webhook.lbmode-system.svc");
        assertThat((String) certificate.get("spec", "issuerRef", "name")).isEqualTo("lbmode-selfsigned");
        ValidatingWebhookConfiguration vwc = selfSigned.only(ValidatingWebhookConfiguration.class);
        assertThat(vwc.getMetadata().getAnnotations())
                .containsEntry("cert-manager.io/inject-ca-from", "lbmode-system/" + certificate.getMetadata().getName());
        assertThat(vwc.getWebhooks().getFirst().getClientConfig().getCaBundle()).isNull();
        // The Deployment mounts the Secret cert-manager writes.
        assertThat(selfSigned.one(Deployment.class, "lbmode-operator").getSpec().getTemplate().getSpec()
                .getVolumes()).anySatisfy(v -> assertThat(v.getSecret() == null ? null : v.getSecret().getSecretName())
                .isEqualTo("lbmode-webhook-tls"));

        HelmChart.Rendered existingIssuer = HelmChart.template(Map.of("webhook.certManager.enabled", true,
                "webhook.certManager.issuerRef.name", "corp-ca", "webhook.certManager.issuerRef.kind", "ClusterIssuer"));
        var kinds = existingIssuer.all(GenericKubernetesResource.class);
        assertThat(kinds).extracting(HasMetadata::getKind).containsExactly("Certificate");
        assertThat((String) kinds.getFirst().get("spec", "issuerRef", "kind")).isEqualTo("ClusterIssuer");
    }

    @Test
    void oneReplicaHasNoDisruptionBudgetAndAKeylessEqualTolerationIsRefused() {
        HelmChart.Rendered single = HelmChart.template(Map.of("operator.replicas", 1));
        assertThat(single.one(Deployment.class, "lbmode-operator").getSpec().getReplicas()).isEqualTo(1);
        assertThat(single.all(PodDisruptionBudget.class)).as("a PDB of minAvailable 1 would block drains").isEmpty();

        assertThatThrownBy(() -> HelmChart.template("datapath:\n  tolerations:\n    - {operator: Equal, value: x}\n"))
                .hasMessageContaining("datapath.tolerations: an entry with operator Equal needs a key");
    }

    /** Wrong values are refused by values.schema.json, naming the value and what is wrong with it. */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '"', textBlock = """
            operator.replicas=two                   | /operator/replicas | got string, want integer
            operator.replicas=-1                    | /operator/replicas | minimum: got -1, want 0
            operator.image.pullPolicy=Sometimes     | /operator/image/pullPolicy | must be one of 'Always', 'IfNotPresent', 'Never'
            operator.replica=2                      | /operator | additional properties 'replica' not allowed
            operator.logLevel=LOUD                  | /operator/logLevel | must be one of 'TRACE', 'DEBUG', 'INFO'
            datapath.interface=eth0/1               | /datapath/interface | 'eth0/1' does not match pattern
            datapath.interface=averyveryverylongname| /datapath/interface | 'averyveryverylongname' does not match pattern
            datapath.healthPort=70000               | /datapath/healthPort | maximum: got 70,000, want 65,535
            datapath.healthAddress=node-1           | /datapath/healthAddress | 'node-1' does not match pattern
            datapath.resources.limits.memory=lots   | /datapath/resources/limits/memory | 'lots' does not match pattern
            datapath.tolerations[0].operator=Maybe  | /datapath/tolerations/0/operator | must be one of 'Exists', 'Equal'
            webhook.timeoutSeconds=60               | /webhook/timeoutSeconds | maximum: got 60, want 30
            webhook.certManager.issuerRef.kind=Foo  | /webhook/certManager/issuerRef/kind | must be one of 'Issuer', 'ClusterIssuer'
            webhook.excludeNamespaces[0]=Bad_NS     | /webhook/excludeNamespaces/0 | 'Bad_NS' does not match pattern
            """)
    void wrongValuesAreRejectedByTheSchemaWithAClearMessage(String setting, String field, String hint) {
        int eq = setting.indexOf('=');
        Object value = setting.substring(eq + 1);
        if (((String) value).matches("-?\\d+")) {
            value = Integer.parseInt((String) value);
        }
        Object finalValue = value;
        assertThatThrownBy(() -> HelmChart.template(Map.of(setting.substring(0, eq), finalValue)))
                .satisfies(e -> System.out.println("schema says for " + setting + ": " + e.getMessage().strip()))
                .hasMessageContaining("values don't meet the specifications of the schema")
                .hasMessageContaining("- at '" + field + "': ")
                .hasMessageContaining(hint)
                .hasMessageNotContaining("goroutine");
    }

    static Map<String, String> env(Container container) {
        return container.getEnv().stream().filter(e -> e.getValue() != null)
                .collect(Collectors.toMap(EnvVar::getName, EnvVar::getValue));
    }

    private static JsonNode yaml(String text) throws IOException {
        return new ObjectMapper(new YAMLFactory()).readTree(text);
    }

    /** Dotted paths of the keys of a values tree; maps and lists set as a whole count as one key. */
    private static Set<String> leafKeys(JsonNode node) {
        Set<String> keys = new TreeSet<>();
        collect("", node, keys);
        return keys;
    }

    private static void collect(String prefix, JsonNode node, Set<String> keys) {
        if (node.isObject() && !node.isEmpty() && !prefix.endsWith("resources")) {
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                var field = it.next();
                collect(prefix.isEmpty() ? field.getKey() : prefix + "." + field.getKey(), field.getValue(), keys);
            }
        } else {
            keys.add(prefix);
        }
    }
}
