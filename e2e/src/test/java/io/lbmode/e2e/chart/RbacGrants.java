package io.lbmode.e2e.chart;

import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.api.model.rbac.RoleRef;
import io.fabric8.kubernetes.api.model.rbac.Subject;
import java.util.ArrayList;
import java.util.List;

/**
 * What a ServiceAccount may do according to the rendered chart, found the way the API server's authorizer finds
 * it: through the (Cluster)RoleBindings whose subjects name the account, to the rules of the roles they reference.
 */
record RbacGrants(String serviceAccount, List<Grant> grants) {

    /** A rule and where it applies: cluster-wide (ClusterRoleBinding) or in one namespace (RoleBinding). */
    record Grant(String via, String namespace, PolicyRule rule) {
        boolean clusterWide() {
            return namespace.isEmpty();
        }
    }

    static RbacGrants of(HelmChart.Rendered rendered, String serviceAccount, String namespace) {
        List<Grant> grants = new ArrayList<>();
        for (ClusterRoleBinding binding : rendered.all(ClusterRoleBinding.class)) {
            if (names(binding.getSubjects(), serviceAccount, namespace)) {
                grants.addAll(rules(rendered, binding.getRoleRef(), "", "ClusterRoleBinding/" + binding.getMetadata().getName()));
            }
        }
        for (RoleBinding binding : rendered.all(RoleBinding.class)) {
            if (names(binding.getSubjects(), serviceAccount, namespace)) {
                grants.addAll(rules(rendered, binding.getRoleRef(), binding.getMetadata().getNamespace(),
                        "RoleBinding/" + binding.getMetadata().getName()));
            }
        }
        return new RbacGrants(serviceAccount, List.copyOf(grants));
    }

    /** True when some grant allows the call (in some namespace: the recorded calls don't carry one). */
    boolean allows(ApiCall call) {
        return grants.stream().anyMatch(g -> covers(g.rule(), call));
    }

    static boolean covers(PolicyRule rule, ApiCall call) {
        // A rule restricted to resourceNames can't serve list/watch/create. It serves calls on one named object (get,
        // update, patch, delete); the recorded calls don't carry the name, so the names themselves are not checked here.
        if (rule.getResourceNames() != null && !rule.getResourceNames().isEmpty()
                && !List.of("get", "update", "patch", "delete").contains(call.verb())) {
            return false;
        }
        return matches(rule.getApiGroups(), call.group()) && matches(rule.getResources(), call.rbacResource())
                && matches(rule.getVerbs(), call.verb());
    }

    private static boolean matches(List<String> allowed, String value) {
        return allowed != null && (allowed.contains(value) || allowed.contains("*"));
    }

    private static boolean names(List<Subject> subjects, String serviceAccount, String namespace) {
        return subjects != null && subjects.stream().anyMatch(s -> "ServiceAccount".equals(s.getKind())
                && serviceAccount.equals(s.getName()) && namespace.equals(s.getNamespace()));
    }

    private static List<Grant> rules(HelmChart.Rendered rendered, RoleRef ref, String namespace, String via) {
        List<PolicyRule> rules = switch (ref.getKind()) {
            case "ClusterRole" -> rendered.one(ClusterRole.class, ref.getName()).getRules();
            case "Role" -> rendered.all(Role.class).stream()
                    .filter(r -> r.getMetadata().getName().equals(ref.getName())
                            && r.getMetadata().getNamespace().equals(namespace))
                    .findFirst().orElseThrow(() -> new AssertionError(via + " references a missing Role " + ref.getName()))
                    .getRules();
            default -> throw new AssertionError(via + " references an unknown kind " + ref.getKind());
        };
        return rules.stream().map(r -> new Grant(via, namespace, r)).toList();
    }
}
