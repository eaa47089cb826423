package io.lbmode.operator.lifecycle;

import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfigurationBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.lbmode.operator.cluster.ChartOwner;
import io.lbmode.operator.config.OperatorConfig;
import io.quarkus.arc.Unremovable;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Leader election (active in the prod profile): only the holder of the lease reconciles, so two operator replicas
 * or a rolling update never write the same objects at once.
 *
 * <p>Why not JOSDK's {@code exitOnStopLeading}: JOSDK 5.3.2 calls {@code System.exit} from the stop-leading callback,
 * and on SIGTERM that callback runs inside Quarkus' shutdown hook, where {@code System.exit} blocks forever (the JVM
 * waits for the very hook that called it). Here a lost lease while running ends the process through Quarkus'
 * asynchronous exit (so the pod restarts and rejoins the election), and the release during shutdown does nothing.
 */
@Singleton
public class LeaderElection {
    private static final Logger LOG = Logger.getLogger(LeaderElection.class);
    private volatile boolean shuttingDown;

    @Inject
    KubernetesClient client;

    @Inject
    OperatorConfig config;

    /** Before the operator stops (its observer has the default, later priority) so the stop callback knows why. */
    void onShutdown(@Observes @Priority(1) ShutdownEvent event) {
        shuttingDown = true;
    }

    @Produces
    @Singleton
    @Unremovable
    LeaderElectionConfiguration leaderElection(
            @ConfigProperty(name = "lbmode.leader-election.lease-name", defaultValue = "lbmode-operator-lock") String leaseName,
            @ConfigProperty(name = "lbmode.leader-election.lease-namespace") Optional<String> leaseNamespace) {
        var builder = LeaderElectionConfigurationBuilder.aLeaderElectionConfiguration(leaseName)
                .withLeaderCallbacks(new LeaderCallbacks(
                        () -> startedLeading(leaseName, leaseNamespace),
                        this::stoppedLeading,
                        leader -> LOG.infof("Leader is %s", leader)));
        leaseNamespace.filter(ns -> !ns.isBlank()).ifPresent(builder::withLeaseNamespace);
        // buildForTest(false) is JOSDK's only way to say "do not System.exit on stop leading" explicitly (its
        // withExitOnStopLeading throws); the name notwithstanding, that is the production behaviour wanted here.
        return builder.buildForTest(false);
    }

    private void startedLeading(String leaseName, Optional<String> leaseNamespace) {
        LOG.info("Started leading: this replica reconciles Clusters");
        String namespace = leaseNamespace.filter(ns -> !ns.isBlank()).orElseGet(client::getNamespace);
        ChartOwner.ownLease(client, namespace, leaseName, config.datapath().serviceAccount());
    }

    private void stoppedLeading() {
        if (shuttingDown) {
            LOG.info("Stopped leading because the operator is shutting down");
            return;
        }
        LOG.error("Lost the leader lease; exiting so that this replica restarts and rejoins the election");
        Quarkus.asyncExit(1);
    }
}
